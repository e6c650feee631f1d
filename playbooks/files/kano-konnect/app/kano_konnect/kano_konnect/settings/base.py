import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "stand-in-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.staticfiles", "konnect"]
MIDDLEWARE = []
ROOT_URLCONF = "kano_konnect.urls"
WSGI_APPLICATION = "kano_konnect.wsgi.application"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "assets"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
CELERY_BROKER_URL = os.environ.get("BROKER_URL", "amqp://guest:guest@localhost//")
