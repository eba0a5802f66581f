"""State metrics read when ``/metrics`` is scraped (api.common.metrics):
the queue of the queued sink (Redis), this node's spool (its disk), live
calls and open issues (the database). Read here, at scrape time, they are
right whatever the number of processes, and cost nothing per request."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from api.calls.models import Conference, Session
from api.ingest.spool import SUFFIX
from api.quality.models import Issue


def _spool_bytes(directory: Path) -> int:
    total = 0
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name.endswith(SUFFIX):
                # Forwarded and removed meanwhile: nothing left to count.
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
    return total


def _age_seconds(stream_id: bytes, now: float) -> float:
    # A stream entry's id starts with the Redis time (ms) it was added at.
    return max(0.0, now - int(stream_id.split(b"-", 1)[0]) / 1000)


def queue_state() -> Iterator[Metric]:
    """The Redis stream: its length, the age of its oldest entry (entries
    are deleted once stored, so that is the oldest sample not yet in the
    database) and the entries read by a worker but not yet acknowledged."""
    if settings.CONFIG.ingest_sink != "queued":
        return
    from api.ingest.sinks.queued import redis_client
    from api.ingest.worker import CONSUMER_GROUP

    stream, group = settings.CONFIG.ingest_stream, CONSUMER_GROUP
    pipe = redis_client().pipeline(transaction=False)
    pipe.xlen(stream)
    pipe.xrange(stream, count=1)
    pipe.xpending(stream, group)
    length, oldest, pending = pipe.execute(raise_on_error=False)
    now = time.time()
    yield GaugeMetricFamily(
        "pm_ingest_queue_length", "Samples in the Redis stream, not yet stored.", value=length
    )
    yield GaugeMetricFamily(
        "pm_ingest_queue_age_seconds",
        "Age of the oldest sample in the Redis stream (0 when it is empty).",
        value=_age_seconds(oldest[0][0], now) if oldest else 0.0,
    )
    yield GaugeMetricFamily(
        "pm_ingest_queue_pending",
        "Samples read by an ingest worker and not yet acknowledged.",
        # No group yet (no worker ever ran): an error reply, shown as 0.
        value=pending["pending"] if isinstance(pending, dict) else 0,
    )
    if settings.CONFIG.ingest_spool:
        yield GaugeMetricFamily(
            "pm_ingest_spool_bytes",
            "Bytes in this node's spool files, waiting to be forwarded to Redis.",
            value=_spool_bytes(Path(settings.CONFIG.ingest_spool_dir)),
        )


def calls_state() -> Iterator[Metric]:
    """Live calls and who is in them, and the issues open now, by code."""
    yield GaugeMetricFamily(
        "pm_conferences_live",
        "Conferences in progress.",
        value=Conference.objects.filter(ongoing=True).count(),
    )
    yield GaugeMetricFamily(
        "pm_participants_live",
        "Sessions (a participant's presence in a call) not yet ended, in conferences in progress.",
        value=Session.objects.filter(end_time__isnull=True, conference__ongoing=True).count(),
    )
    issues = GaugeMetricFamily(
        "pm_issues_open", "Issues open now (not resolved), by code.", labels=["code"]
    )
    for row in (
        Issue.objects.filter(resolved_at__isnull=True)
        .values("code")
        .annotate(n=Count("pk"))
        .order_by("code")
    ):
        issues.add_metric([row["code"]], row["n"])
    yield issues
