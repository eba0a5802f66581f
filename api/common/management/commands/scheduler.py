"""Run the periodic commands the apps schedule (api.common.scheduling) in
one long-lived process: the compose file's ``scheduler`` service, or one
systemd service, instead of cron entries.

Each command runs at start, then every interval after its previous run
began (a run that takes longer than its interval is followed at once by
the next, never overlapped). A failing run is logged and counted
(``pm_scheduled_runs_total{outcome="failed"}``) and retried at its next
turn. SIGTERM or Ctrl-C stops it between runs, or after the run in hand."""

from __future__ import annotations

import io
import logging
import signal
import threading
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from api.common import metrics
from api.common.scheduling import Every, scheduled_commands

logger = logging.getLogger("api.scheduler")


def scheduled_run(job: Every) -> bool:
    """Run one scheduled command; its output goes to the log. True if it
    succeeded."""
    output = io.StringIO()
    started = time.monotonic()
    outcome = "ok"
    try:
        call_command(job.command, *job.args, stdout=output, stderr=output)
    except Exception:
        outcome = "failed"
        logger.exception("scheduled command %s failed: %s", job.command, output.getvalue().strip())
    else:
        metrics.labelled(metrics.SCHEDULED_LAST_SUCCESS, job.command).set(time.time())
        logger.info(
            "scheduled command %s done in %.1f s: %s",
            job.command,
            time.monotonic() - started,
            output.getvalue().strip(),
        )
    finally:
        # Like the end of a request: a broken or expired connection is not
        # carried into the next run.
        close_old_connections()
    metrics.labelled(metrics.SCHEDULED_RUNS, job.command, outcome).inc()
    return outcome == "ok"


class Command(BaseCommand):
    help = "Run the periodic commands (stale-call cleanup, partition maintenance, …) on schedule."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run every scheduled command once, then exit."
        )
        parser.add_argument(
            "--list",
            action="store_true",
            dest="list_only",
            help="Print the schedule and exit, running nothing.",
        )

    def handle(self, *args, once: bool, list_only: bool, **options) -> None:
        jobs = scheduled_commands()
        for job in jobs:
            self.stdout.write(f"{' '.join((job.command, *job.args))}: every {job.minutes:g} min")
        if list_only:
            return
        if once:
            failed = [job.command for job in jobs if not scheduled_run(job)]
            if failed:
                raise CommandError(f"failed: {', '.join(failed)} (see the log)")
            return

        stopping = threading.Event()

        def stop(signum, frame) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        due = dict.fromkeys(range(len(jobs)), time.monotonic())
        while not stopping.is_set():
            for index, job in enumerate(jobs):
                if stopping.is_set():
                    break
                if due[index] <= time.monotonic():
                    began = time.monotonic()
                    scheduled_run(job)
                    due[index] = began + job.seconds
            # Sleeps until the next run is due; a signal ends the wait at once.
            stopping.wait(max(0.0, min(due.values()) - time.monotonic()) if due else None)
        self.stdout.write("scheduler stopped")
