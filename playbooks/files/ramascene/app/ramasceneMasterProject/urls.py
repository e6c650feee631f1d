from django.conf import settings
from django.http import HttpResponse
from django.urls import path

from app.models import Result


def index(request):
    text = f"RaMa-Scene\ndatasets: {settings.DATASETS_VERSION}\nresults: {Result.objects.count()}\n"
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


urlpatterns = [path("", index)]
