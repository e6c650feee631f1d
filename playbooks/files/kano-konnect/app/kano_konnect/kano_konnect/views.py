# `home` (thanasio/connect, kano_konnect/kano_konnect/views.py) runs `debug_task` through
# Celery and shows its result, read back from RabbitMQ; `index` stands for the real
# TemplateView of base.html and says which process serves it, at which revision.
from django.http import HttpResponse

from . import tasks
from .revision import REVISION, STARTED


def text(body):
    return HttpResponse(body, content_type="text/plain; charset=utf-8")


def index(request):
    return text(f"Kano Konnect\nserved by process {STARTED} at revision {REVISION}\n")


def home(request):
    result = tasks.debug_task.delay().get(timeout=5)
    return text(f"Kano Konnect\nHere is the result of a celery test:\n{result}\n")
