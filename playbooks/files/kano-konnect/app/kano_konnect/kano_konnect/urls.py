# As the real urls.py: the home page, /hello (the Celery test), the fm app under /fm/.
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.index),
    path("hello", views.home, name="home"),
    path("fm/", include("fm.urls")),
]
