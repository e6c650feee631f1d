from django.http import HttpResponse
from django.urls import path

from konnect.models import Connection


def index(request):
    return HttpResponse(
        f"Kano Konnect\nconnections: {Connection.objects.count()}\n", content_type="text/plain; charset=utf-8"
    )


urlpatterns = [path("", index)]
