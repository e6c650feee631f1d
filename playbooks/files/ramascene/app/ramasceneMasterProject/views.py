from django.conf import settings
from django.http import HttpResponse

from ramascene.models import Job


def homePage(request):
    text = f"RaMa-Scene\ndatasets: {settings.DATASET_VERSION}\njobs: {Job.objects.count()}\n"
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
