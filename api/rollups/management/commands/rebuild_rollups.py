"""Recompute the call summaries and daily rollups of the app overview from
the stored calls (after an upgrade, a restore, or a change of the rules).
Idempotent; safe beside live traffic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from api.rollups.services import rollups_rebuild, since_days


class Command(BaseCommand):
    help = "Recompute call summaries and the per-app daily rollups."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--app", help="Only this app (its id).")
        parser.add_argument("--since", help="Only calls started on or after this day (YYYY-MM-DD).")
        parser.add_argument("--days", type=float, help="Only calls of the last N days.")

    def handle(self, *args, app: str | None, since: str | None, days: float | None, **options):
        app_id = None
        if app:
            try:
                app_id = uuid.UUID(app)
            except ValueError as exc:
                raise CommandError("--app must be an app id") from exc
        start = None
        if since:
            try:
                start = datetime.fromisoformat(since).replace(tzinfo=UTC)
            except ValueError as exc:
                raise CommandError("--since must be a date, YYYY-MM-DD") from exc
        elif days is not None:
            start = since_days(days)
        calls, day_count = rollups_rebuild(app_id=app_id, since=start)
        self.stdout.write(f"Summarised {calls} calls; rebuilt {day_count} app days.")
