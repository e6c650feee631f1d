# '' is the home page, the rest is the ramascene app's (CMLPlatform/ramascene, urls.py).
from django.urls import include, path

from ramasceneMasterProject import views

urlpatterns = [path("", views.homePage), path("", include("ramascene.urls"))]
