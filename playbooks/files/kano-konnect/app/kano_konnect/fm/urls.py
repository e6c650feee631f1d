from django.urls import path

from . import views

urlpatterns = [
    path("facilities", views.facilities),
    path("facilities/new", views.new_facility),
]
