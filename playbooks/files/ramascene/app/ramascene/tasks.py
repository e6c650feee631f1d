# The calculation (CMLPlatform/ramascene, ramascene/tasks.py): `default_handler` sends
# the task `calc_default` to the queue `calc_default`, or to `modelling` for a query with
# model details; the worker marks the Job completed with its Celery id, tells the
# websocket through the channel layer, and returns the result that django-celery-results
# stores. The real task multiplies the EXIOBASE matrices of DATASETS_DIR; the stand-in's
# figures are a placeholder, and it adds who computed them: the worker, its queue, the
# worker's process and the revision it read when it started.
import json
import os

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer
from django.conf import settings

from .models import Job


def async_send(channel_name, job):
    message = {"action": "check status", "job_id": job.id, "job_name": job.name, "job_status": job.status}
    async_to_sync(get_channel_layer().send)(channel_name, {"type": "celery.message", "text": json.dumps(message)})


def job_update(job_id):
    job = Job.objects.get(pk=job_id)
    job.status = "completed"
    job.save()
    return job


def handle_complete(job_id, channel_name, celery_id):
    job = Job.objects.get(pk=job_id)
    job.celery_id = celery_id
    job.save()
    async_send(channel_name, job)


def default_handler(job_name, job_id, channel_name, query_selection):
    queue = "modelling" if "model_details" in query_selection else "calc_default"
    calc_default.apply_async((job_name, job_id, channel_name, query_selection), queue=queue)


@shared_task(bind=True)
def calc_default(self, job_name, job_id, channel_name, query_selection):
    change = sum(float(m.get("techChange", 0)) for m in query_selection.get("model_details", []))
    figures = {str(region): float(region) * (1 + change / 100) for region in query_selection.get("nodesReg", [])}
    job_update(job_id)
    handle_complete(job_id, channel_name, self.request.id)
    return {
        "job_name": job_name,
        "job_id": job_id,
        "rawResultData": figures,
        "worker": self.request.hostname,
        "queue": self.request.delivery_info.get("routing_key"),
        # the worker's main process (this child was forked from it for this one task)
        "worker_pid": os.getppid(),
        "revision": settings.REVISION,
    }
