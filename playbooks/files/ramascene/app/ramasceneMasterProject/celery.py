# The Celery app `ramasceneMasterProject` (CMLPlatform/ramascene, ramasceneMasterProject/celery.py):
# Django settings with the CELERY_ namespace, tasks discovered in the apps. Tasks are sent
# to the queue `calc_default` or `modelling` with apply_async(queue=...).
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ramasceneMasterProject.settings")
app = Celery("ramasceneMasterProject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
