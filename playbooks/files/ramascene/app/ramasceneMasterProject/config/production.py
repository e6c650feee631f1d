import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.staticfiles", "app"]
MIDDLEWARE = []
ROOT_URLCONF = "ramasceneMasterProject.urls"
ASGI_APPLICATION = "ramasceneMasterProject.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DATABASE_PATH", str(BASE_DIR / "db.sqlite3"))}}
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "frontend" / "dist"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATASETS_VERSION = os.environ.get("DATASETS_VERSION", "v3")
DATASETS_DIR = os.environ.get("DATASETS_DIR", "/srv/ramascene/datasets")
CELERY_BROKER_URL = os.environ.get("BROKER_URL", "amqp://localhost")
# one task per child: forces numpy's memory to be released (see the runbook)
CELERY_WORKER_MAX_TASKS_PER_CHILD = 1
