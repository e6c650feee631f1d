# The real `fm` app (facility management) lists facilities by facility_name,
# facility_type, facility_status and facility_area; the stand-in keeps the name, type and
# status, and says which Celery worker recorded the row (its PID and the revision it
# read when it started).
from django.db import models


class Facility(models.Model):
    facility_name = models.CharField(max_length=100)
    facility_type = models.CharField(max_length=50, blank=True)
    facility_status = models.CharField(max_length=50, blank=True)
    recorded_by = models.CharField(max_length=100)
