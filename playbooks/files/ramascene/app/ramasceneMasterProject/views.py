# The home page (the real one renders the React front end): the datasets version the
# settings read, the stored jobs, and, the stand-in's own, the revision and the process
# serving it.
import os

from django.conf import settings
from django.http import HttpResponse

from ramascene.models import Job


def homePage(request):
    text = (
        f"RaMa-Scene\nrevision: {settings.REVISION}\npid: {os.getpid()}\n"
        f"datasets: {settings.DATASET_VERSION}\njobs: {Job.objects.count()}\n"
    )
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
