# Shared settings, as the real config/base.py (CMLPlatform/ramascene): SQLite in the
# project root, the channel layer on Redis (REDIS_HOST, default localhost, port 6379),
# Celery results in the database, the webpack bundles under assets/.
import os
import subprocess
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_results",
    "ramascene",
]
MIDDLEWARE = []
ROOT_URLCONF = "ramasceneMasterProject.urls"
ASGI_APPLICATION = "ramasceneMasterProject.routing.channel_routing"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "db.sqlite3")}}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [(os.environ.get("REDIS_HOST", "localhost"), 6379)]},
    }
}
CELERY_RESULT_BACKEND = "django-db"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# one task per child: numpy's memory is released (the runbook's reason)
CELERY_WORKER_MAX_TASKS_PER_CHILD = 1
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "assets"]
STATIC_ROOT = BASE_DIR / "static"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"


def _revision():
    try:
        git = ["git", "rev-parse", "HEAD"]
        return subprocess.run(git, cwd=BASE_DIR, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# Not in the real project: the commit of the checkout, read once, when a process loads
# its settings (daphne and each Celery worker when they start, before the workers fork
# their children), shown on the home page, in the websocket's answers and in every
# task's result, so that a process still running old code says so.
REVISION = _revision()
