# The ramascene app's pages (CMLPlatform/ramascene, ramascene/urls.py).
from django.urls import path

from ramascene import views

urlpatterns = [
    path("ramascene/", views.home, name="home"),
    path("ajaxhandling/", views.ajaxHandling, name="ajaxhandling"),
]
