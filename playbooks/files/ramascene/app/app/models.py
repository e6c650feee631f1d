from django.db import models


class Result(models.Model):
    query = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
