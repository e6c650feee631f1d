from django.core.management.base import BaseCommand

from app.models import Result


class Command(BaseCommand):
    help = "Delete stored calculation results (run weekly by cron)"

    def handle(self, *args, **options):
        deleted, _ = Result.objects.all().delete()
        self.stdout.write(f"deleted {deleted} results")
