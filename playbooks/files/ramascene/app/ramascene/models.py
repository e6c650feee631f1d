# `Job` with the real model's fields (CMLPlatform/ramascene, ramascene/models.py).
from django.db import models


class Job(models.Model):
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=50)
    created = models.DateTimeField(auto_now_add=True)
    completed = models.DateTimeField(null=True)
    celery_id = models.CharField(max_length=50)
