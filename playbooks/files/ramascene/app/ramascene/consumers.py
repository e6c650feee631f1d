# The websocket at ramascene/ (CMLPlatform/ramascene, ramascene/consumers.py): a query
# (action "default", or "model" with its model_details) is saved as a Job, answered with
# "started", and handed to Celery; the worker's "check status" comes back through the
# channel layer (Redis) to `celery_message`, which passes it on to the browser. The real
# consumer also turns the query's ids into names (querymanagement); the stand-in keeps
# the query as it came, and adds the revision this daphne read when it started.
import asyncio
import json
import logging

from channels.consumer import AsyncConsumer
from channels.db import database_sync_to_async
from django.conf import settings

from .models import Job
from .tasks import default_handler

log = logging.getLogger(__name__)


class RamasceneConsumer(AsyncConsumer):
    async def websocket_connect(self, event):
        await self.send({"type": "websocket.accept"})

    async def websocket_receive(self, event):
        try:
            data = json.loads(event["text"])
            action = data["action"]
            query_selection = dict(data["querySelection"])
        except (KeyError, TypeError, ValueError) as e:
            log.debug("ws message isn't a query: %s (%s)", event.get("text"), e)
            return
        if action not in ("default", "model"):
            return
        if action == "model":
            # the calculation gets the model details inside the query
            query_selection["model_details"] = data["model_details"]
        job_name = json.dumps(query_selection, sort_keys=True)
        job = await self.save_job(job_name)
        await self.send(
            {
                "type": "websocket.send",
                "text": json.dumps(
                    {
                        "action": "started",
                        "job_id": job.id,
                        "job_name": job.name,
                        "job_status": job.status,
                        "queue_length": "Unavailable",
                        "revision": settings.REVISION,
                    }
                ),
            }
        )
        await database_sync_to_async(default_handler)(job_name, job.id, self.channel_name, query_selection)

    async def websocket_disconnect(self, message):
        pass

    async def celery_message(self, event):
        # as the real one: give the result a moment to be stored before the browser asks
        await asyncio.sleep(0.5)
        await self.send({"type": "websocket.send", "text": event["text"]})

    @database_sync_to_async
    def save_job(self, job_name):
        return Job.objects.create(name=job_name, status="started")
