# `kano_konnect.wsgi:application` (thanasio/connect, kano_konnect/kano_konnect/wsgi.py):
# uWSGI loads this file by path from the release root, so SITE_ROOT goes on sys.path.
import os
import sys
from os.path import abspath, dirname

sys.path.append(dirname(dirname(abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kano_konnect.settings.production")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
