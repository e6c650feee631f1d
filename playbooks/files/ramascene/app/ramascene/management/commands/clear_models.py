# As the real command (CMLPlatform/ramascene, ramascene/management/commands/clear_models.py):
# every Job, then every Celery result, deleted; run weekly by cron.
from django.core.management.base import BaseCommand
from django_celery_results.models import TaskResult

from ramascene.models import Job


class Command(BaseCommand):
    help = "Delete the stored jobs and Celery results"

    def handle(self, *args, **options):
        jobs, _ = Job.objects.all().delete()
        results, _ = TaskResult.objects.all().delete()
        self.stdout.write(f"deleted {jobs} jobs and {results} results")
