"""``manage.py prune_webhooks``: forget finished deliveries (with their
attempts) older than ``--days`` (default ``WEBHOOK_LOG_RETENTION_DAYS``,
30) and the task library's finished task rows older than a week. Run
daily by the scheduler; idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.timezone import now

from api.webhooks.models import Delivery


class Command(BaseCommand):
    help = "Delete old webhook deliveries and finished task rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=getattr(settings, "WEBHOOK_LOG_RETENTION_DAYS", 30)
        )

    def handle(self, *args, days: int, **options) -> None:
        cutoff = now() - timedelta(days=days)
        deleted, _ = (
            Delivery.objects.filter(created_at__lt=cutoff)
            .exclude(status=Delivery.Status.PENDING)
            .delete()
        )
        self.stdout.write(f"{deleted} webhook rows older than {days} days deleted")
        call_command("prune_db_task_results", min_age_days=7, stdout=self.stdout)
