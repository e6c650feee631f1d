# daphne's `ramasceneMasterProject.asgi:application` (CMLPlatform/ramascene): Django set
# up, then the ASGI_APPLICATION router of routing.py.
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ramasceneMasterProject.settings")
django.setup()

from ramasceneMasterProject.routing import channel_routing  # noqa: E402

application = channel_routing
