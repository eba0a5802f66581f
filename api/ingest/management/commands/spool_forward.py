"""Forward the spool files no live process holds to the Redis stream.

Web processes do this themselves every few seconds; run it by hand when a
node's web processes are stopped for good, to send what they left."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from api.ingest.sinks.queued import QueuedSink
from api.ingest.spool import SUFFIX, Spool


class Command(BaseCommand):
    help = "Forward the queued sink's orphaned spool files to Redis."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="Spool directory (default: INGEST_SPOOL_DIR, or DATA_DIR/spool).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.CONFIG.redis_url:
            raise CommandError("Forwarding needs REDIS_HOST (the queue is a Redis stream).")
        directory = options["dir"] or Path(settings.CONFIG.ingest_spool_dir)
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        sink = QueuedSink()
        spool = Spool(directory, sink.send)
        sent = spool.recover_orphans()
        spool.close()
        left = sorted(p.name for p in directory.glob(f"*{SUFFIX}"))
        self.stdout.write(f"forwarded {sent} samples from {directory}")
        if left:
            self.stdout.write(f"{len(left)} files are held by live processes: " + ", ".join(left))
