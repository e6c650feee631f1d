# `debug_task` (thanasio/connect, kano_konnect/kano_konnect/tasks.py), which the home view
# runs and waits for, and the stand-in's `record_facility`, which writes a facility as
# the worker that ran it.
from .celery import app
from .revision import REVISION, STARTED


def worker():
    return f"worker {STARTED} at {REVISION}"


@app.task(bind=True)
def debug_task(self):
    return f"Request: {self.request.id} by {worker()}"


@app.task
def record_facility(facility_name):
    from fm.models import Facility

    Facility.objects.create(facility_name=facility_name, facility_status="open", recorded_by=worker())
