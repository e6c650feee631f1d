from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse("RaMa-Scene tool\n", content_type="text/plain; charset=utf-8")


urlpatterns = [path("ramascene/", home)]
