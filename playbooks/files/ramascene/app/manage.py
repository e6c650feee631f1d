#!/usr/bin/env python3
# As the real manage.py (CMLPlatform/ramascene): the settings default to
# ramasceneMasterProject.settings (dev); production exports DJANGO_SETTINGS_MODULE.
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ramasceneMasterProject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
