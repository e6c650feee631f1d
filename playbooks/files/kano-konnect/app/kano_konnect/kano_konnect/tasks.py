# `debug_task` (thanasio/connect, kano_konnect/kano_konnect/tasks.py).
from .celery import app


@app.task(bind=True)
def debug_task(self):
    return f"Request: {self.request.id}"
