# The shim the real project keeps (CMLPlatform/ramascene, ramasceneMasterProject/settings.py):
# without DJANGO_SETTINGS_MODULE exported, everything runs on the dev settings.
from ramasceneMasterProject.config.dev import *  # noqa: F401,F403
