# /fm/facilities lists the facilities (the real fm/templates/facilities.html), read from
# the database; /fm/facilities/new hands the new facility to Celery, whose worker writes
# the row. Each row is shown field by field, as the model defines them.
from django.http import HttpResponse
from django.views.decorators.http import require_POST

from kano_konnect import tasks
from kano_konnect.revision import REVISION, STARTED

from .models import Facility


def facilities(request):
    rows = Facility.objects.order_by("id")
    lines = [", ".join(f"{f.name}={getattr(row, f.name)}" for f in Facility._meta.fields) for row in rows]
    body = [
        "Kano Konnect: facilities",
        f"served by process {STARTED} at revision {REVISION}",
        f"facilities: {len(lines)}",
        *lines,
    ]
    return HttpResponse("\n".join(body) + "\n", content_type="text/plain; charset=utf-8")


@require_POST
def new_facility(request):
    result = tasks.record_facility.delay(request.POST["facility_name"])
    return HttpResponse(f"queued {result.id}\n", status=202, content_type="text/plain; charset=utf-8")
