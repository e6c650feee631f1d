# `Celery('kano_konnect')` (thanasio/connect, kano_konnect/kano_konnect/celery.py): the
# Django settings, tasks found in the installed apps; `celery -A kano_konnect worker`.
import os

from celery import Celery
from django.conf import settings

from . import revision  # noqa: F401 (read at the start of the process)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kano_konnect.settings.production")
app = Celery("kano_konnect")
app.config_from_object("django.conf:settings")
app.autodiscover_tasks(lambda: settings.INSTALLED_APPS)
