# The shared settings, with the real base.py's contract (thanasio/connect,
# kano_konnect/kano_konnect/settings/base.py): the untracked variables.json at the
# repository's root is copied into the environment (a missing file is logged, not fatal),
# static files are collected into SITE_ROOT/assets (tracked in git), the log goes to
# kano_konnect/log/kano.log.
import json
import logging
import os
from os.path import abspath, basename, dirname, join, normpath

DJANGO_ROOT = dirname(dirname(abspath(__file__)))
SITE_ROOT = dirname(DJANGO_ROOT)
SITE_NAME = basename(DJANGO_ROOT)
DIRECTORY_ROOT = dirname(SITE_ROOT)

try:
    with open(join(DIRECTORY_ROOT, "variables.json")) as f:
        for key, value in json.load(f).items():
            os.environ[key] = str(value)
except IOError as e:
    logging.getLogger(__name__).error("settings file may be unavailable inside CI: %s", e)

DEBUG = os.getenv("DEBUG") == "True"
SECRET_KEY = os.getenv("SECRET_KEY", "")
ALLOWED_HOSTS = []
TIME_ZONE = "Africa/Lagos"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.staticfiles", SITE_NAME, "fm"]
MIDDLEWARE = []
ROOT_URLCONF = f"{SITE_NAME}.urls"
WSGI_APPLICATION = f"{SITE_NAME}.wsgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": join(DJANGO_ROOT, "default.db")}}
STATIC_URL = "/static/"
STATIC_ROOT = normpath(join(SITE_ROOT, "assets"))
STATICFILES_DIRS = []
MEDIA_ROOT = "/var/kano_konnect_media"
MEDIA_URL = "/media/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": join(SITE_ROOT, "log", "kano.log"),
        }
    },
    "root": {"handlers": ["file"], "level": "INFO"},
}
# Celery: the broker is RabbitMQ on this host (Celery's default); results come back
# over it too (the real settings' `amqp` result backend, `rpc` in today's Celery)
CELERY_RESULT_BACKEND = "rpc://"
CELERY_TASK_RESULT_EXPIRES = 18000
