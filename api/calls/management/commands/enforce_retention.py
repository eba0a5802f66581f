from __future__ import annotations

from django.core.management.base import BaseCommand

from api.calls.erasure import conferences_past_retention_delete


class Command(BaseCommand):
    help = "Delete the calls of apps with a retention_days older than that, with all their data."

    def handle(self, *args, **options) -> None:
        removed = conferences_past_retention_delete()
        summary = ", ".join(f"{label}: {count}" for label, count in removed.items())
        self.stdout.write(f"retention: {summary or 'nothing past retention'}")
