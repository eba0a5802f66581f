"""Consume the queued sink's Redis stream into the database.

Run one or more per machine (each with its own --consumer name); stop with
SIGTERM or Ctrl-C, which finishes the batch in hand first."""

from __future__ import annotations

import os
import signal
import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from api.ingest.worker import IngestWorker, worker_process_prepare


class Command(BaseCommand):
    help = "Write queued stats samples (Redis stream) to the database in batches."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--consumer",
            default=socket.gethostname(),
            help="Name in the consumer group. Keep it stable across restarts, so a "
            "restarted worker re-reads the messages it held (default: host name).",
        )
        parser.add_argument("--batch", type=int, default=500, help="Messages per batch.")
        parser.add_argument("--block-ms", type=int, default=1000)
        parser.add_argument(
            "--linger-ms",
            type=int,
            default=100,
            help="After a batch of fewer than half --batch messages, wait this long before "
            "reading the next, so that a light load still makes batches of some size: a "
            "batch's own cost (its transaction, statements and Redis round trips) is "
            "several ms. Adds at most this much to detection. 0: read again at once.",
        )
        parser.add_argument(
            "--claim-idle",
            type=float,
            default=60,
            help="Seconds after which another consumer's unacknowledged messages are taken over.",
        )
        parser.add_argument(
            "--until-empty",
            action="store_true",
            help="Exit once the stream is drained (for tests and one-off catch-up runs).",
        )
        parser.add_argument(
            "--progress", type=float, default=10, help="Seconds between progress lines."
        )
        parser.add_argument(
            "--nice",
            type=int,
            default=0,
            help="Lower this worker's CPU priority by N (0-19). On a machine it shares with "
            "web processes, 19 lets them answer first when the CPU is saturated; the worker "
            "catches up when the load drops (docs/scaling.md).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.CONFIG.redis_url:
            raise CommandError("The ingest worker needs REDIS_HOST (the queue is a Redis stream).")
        if options["linger_ms"] < 0:
            raise CommandError("--linger-ms takes 0 or more.")
        if not 0 <= options["nice"] <= 19:
            raise CommandError("--nice takes 0 to 19.")
        if options["nice"]:
            os.nice(options["nice"])
        worker = IngestWorker(
            consumer=options["consumer"],
            batch_size=options["batch"],
            block_ms=options["block_ms"],
            claim_idle_ms=int(options["claim_idle"] * 1000),
        )
        worker.ensure_group()
        worker_process_prepare()
        stopping = {"flag": False}

        def stop(signum, frame):
            stopping["flag"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(
            f"ingest worker {options['consumer']}: stream {worker.stream}, group {worker.group}, "
            f"backlog {_shown(worker.backlog())}"
        )
        last = time.monotonic()
        linger_s = options["linger_ms"] / 1000
        while not stopping["flag"]:
            handled = worker.run_once(should_stop=lambda: stopping["flag"])
            # Like a request boundary: drop a connection past CONN_MAX_AGE or broken.
            close_old_connections()
            if handled == 0 and options["until_empty"] and worker.backlog() == 0:
                break
            pause = worker.linger_after(handled, linger_s)
            if pause and not options["until_empty"]:
                time.sleep(pause)
            if time.monotonic() - last >= options["progress"]:
                last = time.monotonic()
                s = worker.stats
                self.stdout.write(
                    f"  stored {s.stored}  duplicates {s.duplicates}  dropped {s.dropped}  "
                    f"retries {s.retries}  redis errors {s.redis_errors}  "
                    f"backlog {_shown(worker.backlog())}"
                )
        s = worker.stats
        self.stdout.write(
            f"stopped: {s.batches} batches, {s.stored} stored, {s.duplicates} duplicates, "
            f"{s.dropped} dropped, {s.retries} retries"
        )


def _shown(backlog: int | None) -> str:
    return "?" if backlog is None else str(backlog)
