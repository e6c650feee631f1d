import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kano_konnect.settings.production")
app = Celery("kano_konnect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["kano_konnect"])
