"""Daily partitions ahead, old days dropped: run it once a day or more often
(cron, systemd timer, Kubernetes CronJob). Idempotent.

On PostgreSQL it creates the partitions of the next days for stats samples
and per-track metrics, and drops the partitions older than the retention.
On SQLite (no partitions) it deletes rows older than the retention."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection as db

from api.common import time as clock
from api.events.partitioning import (
    is_partitioned,
    partition_drop,
    partition_ensure,
    partitioned_tables,
    partitions_list,
)

SQLITE_DELETE_BATCH = 5000


class Command(BaseCommand):
    help = "Create the coming days' partitions and drop days past the retention."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ahead", type=int, default=7, help="Days of partitions made ahead.")
        parser.add_argument(
            "--retention-days",
            type=int,
            default=settings.CONFIG.stats_retention_days,
            help="Keep this many days (0: keep everything). Default: STATS_RETENTION_DAYS.",
        )
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, **options) -> None:
        today = clock.now().date()
        retention = options["retention_days"]
        # Keeping N days: today and the N - 1 days before it.
        oldest_kept = today - timedelta(days=retention - 1) if retention > 0 else None
        dry = options["dry_run"]
        if db.vendor != "postgresql":
            self._sqlite_retention(oldest_kept, dry)
            return
        for table in partitioned_tables():
            if not is_partitioned(table):
                self.stdout.write(f"{table.table}: not partitioned (migrations not applied?)")
                continue
            made = 0
            for offset in range(-1, options["ahead"] + 1):
                day = today + timedelta(days=offset)
                if oldest_kept is not None and day < oldest_kept:
                    continue
                if not dry and partition_ensure(table, day):
                    made += 1
            dropped = []
            if oldest_kept is not None:
                for name, day in partitions_list(table):
                    if day < oldest_kept:
                        dropped.append(name)
                        if not dry:
                            partition_drop(table, name)
            self.stdout.write(
                f"{table.table}: {made} partitions created, {len(dropped)} dropped"
                + (f" ({', '.join(dropped)})" if dropped else "")
                + (" [dry run]" if dry else "")
            )

    def _sqlite_retention(self, oldest_kept, dry: bool) -> None:
        if oldest_kept is None:
            self.stdout.write("retention off: nothing to delete")
            return
        for table in partitioned_tables():
            if table.model is None:
                continue
            model = apps.get_model(table.model)
            old = model.objects.filter(**{table.retention_lookup: oldest_kept})
            if dry:
                self.stdout.write(
                    f"{model._meta.db_table}: {old.count()} rows older than {oldest_kept}"
                )
                continue
            deleted = 0
            while True:
                ids = list(old.values_list("pk", flat=True)[:SQLITE_DELETE_BATCH])
                if not ids:
                    break
                deleted += model.objects.filter(pk__in=ids)._raw_delete(db.alias)
            self.stdout.write(
                f"{model._meta.db_table}: {deleted} rows older than {oldest_kept} deleted"
            )
