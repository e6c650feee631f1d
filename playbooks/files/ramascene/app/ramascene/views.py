# As the real ramascene/views.py (CMLPlatform/ramascene): the front end, told over the
# websocket that its job is done, POSTs the job's id as `TaskID` to ajaxhandling/ and
# gets the task's stored result (django-celery-results) back as JSON.
import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_celery_results.models import TaskResult

from .models import Job


def home(request):
    return HttpResponse("RaMa-Scene tool\n", content_type="text/plain; charset=utf-8")


@csrf_exempt
def ajaxHandling(request):
    if request.method != "POST":
        return HttpResponse("POST a TaskID\n", status=405, content_type="text/plain; charset=utf-8")
    job_id = request.POST.get("TaskID")
    try:
        celery_id = Job.objects.values_list("celery_id", flat=True).get(pk=job_id)
        result = TaskResult.objects.values_list("result", flat=True).get(task_id=celery_id)
    except (Job.DoesNotExist, TaskResult.DoesNotExist, ValueError) as e:
        return JsonResponse({"status": f"job failed (job {job_id}: {e})"})
    return JsonResponse({"rawResultData": json.loads(result)})
