from django.apps import AppConfig


class RamasceneConfig(AppConfig):
    name = "ramascene"
