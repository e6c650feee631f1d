import os
import sys
from pathlib import Path

# uWSGI is started from the release root with --wsgi-file kano_konnect/kano_konnect/wsgi.py
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kano_konnect.settings.production")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
