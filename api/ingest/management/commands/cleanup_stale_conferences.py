"""Close conferences left ongoing by clients that never said goodbye (a
crashed tab, a lost network): run it from cron, e.g. every 15 minutes.

Each conference is closed at its last activity, so its duration, its
sessions and the billed seconds stop there, not at the time this runs.
(In ``ingest``: what the closing ends is announced to the sinks and the
detectors, which the lower apps do not know.)"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from api.common import time as clock
from api.events import selectors, services
from api.ingest.services import ended_announce

logger = logging.getLogger("api.calls")


def _ago(delta: timedelta) -> str:
    return str(delta - timedelta(microseconds=delta.microseconds))


class Command(BaseCommand):
    help = (
        "Close ongoing conferences with no activity for more than --hours, at their last activity."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=settings.CONFIG.conference_timeout_hours,
            help="Idle time after which a conference is stale "
            "(default: CONFERENCE_TIMEOUT_HOURS, %(default)s).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List the stale conferences, change nothing."
        )

    def handle(self, *args, hours: float, dry_run: bool, **options) -> None:
        if hours <= 0:
            raise CommandError("--hours must be positive.")
        now = clock.now()
        idle_since = now - timedelta(hours=hours)
        ongoing, stale = selectors.conferences_stale(idle_since=idle_since)
        if not ongoing:
            self.stdout.write("No ongoing conferences found.")
            return
        if not stale:
            self.stdout.write(f"{ongoing} ongoing conferences found, all have recent activity.")
            return
        self.stdout.write(
            f"Found {len(stale)} conferences with no activity for more than {hours:g} hours."
        )
        closed = failed = 0
        for conference, last_activity in stale:
            name = conference.conference_name or conference.conference_id
            self.stdout.write(
                f"  {conference.pk} ({name}) - last activity {_ago(now - last_activity)} ago"
            )
            if dry_run:
                continue
            try:
                # Each conference in its own transaction: one that fails is
                # logged and the others are still closed.
                closed_now = services.conference_close_stale(
                    conference_id=conference.pk, idle_since=idle_since
                )
                if closed_now is not None:
                    ended_announce(closed_now[0])
                    closed += 1
            except Exception:
                failed += 1
                logger.exception("could not close stale conference %s", conference.pk)
        if dry_run:
            self.stdout.write(f"Dry run: {len(stale)} conferences would be closed, none was.")
            return
        summary = f"Closed {closed} stale conferences."
        if failed:
            self.stdout.write(f"{summary} {failed} failed.")
            # A non-zero exit, so that cron or the scheduler reports it.
            raise CommandError(f"{failed} stale conferences could not be closed (see the log).")
        self.stdout.write(summary)
