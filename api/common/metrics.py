"""The metric catalogue: every Prometheus metric the server exports.

Two kinds, by where the truth is:

* **Events counted by the process they happen in** (requests, samples
  accepted, batches stored, issues raised): counters and histograms here,
  incremented in place. Under granian several worker processes serve one
  port, and the ingest worker and the scheduler are processes of their own,
  so with ``PROMETHEUS_MULTIPROC_DIR`` set (the container and the systemd
  units set it) prometheus-client keeps each process's values in a small
  memory-mapped file of that directory, and ``/metrics`` adds up the files
  of every process of the machine, dead ones included (counters stay
  monotonic across worker restarts). The directory is emptied when the
  machine's processes start afresh (a tmpfs in the compose file, a
  ``RuntimeDirectory`` under systemd). Without it (development, tests) each
  process counts for itself.
* **State** (queue length and age, spool bytes, live calls, open issues):
  read from Redis, the database or the disk when ``/metrics`` is scraped,
  by collectors that apps register (``scrape_collector_add``), so no gauge
  has to be kept right by many processes, and nothing is paid per request.

Per request the cost is one counter and one histogram update (a few
microseconds; docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger("api.metrics")

_DIR = settings.CONFIG.metrics_dir
if _DIR is not None:
    _DIR.mkdir(parents=True, exist_ok=True)
    # Files are named after the process. Containers that share the directory
    # (api, worker, scheduler) each have their own PID namespace, so the host
    # name (the container's id) is part of the name too.
    _HOST = socket.gethostname()
    _names: dict[int, str] = {}

    def _process_name() -> str:
        # Asked on every update: one dict read, no string built.
        pid = os.getpid()
        name = _names.get(pid)
        if name is None:
            name = _names[pid] = f"{_HOST}-{pid}"
        return name

    values.ValueClass = values.MultiProcessValue(process_identifier=_process_name)

# ---------------------------------------------------------------- HTTP

HTTP_REQUESTS = Counter(
    "pm_http_requests",
    "Requests answered, by route (URL pattern), method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "pm_http_request_duration_seconds",
    "Time from the request entering the application to its answer, by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# ---------------------------------------------------------------- stats ingest

STATS_ACCEPTED = Counter(
    "pm_stats_samples_accepted", "Stats samples accepted (answered 200), by sink.", ["sink"]
)
STATS_REFUSED = Counter(
    "pm_stats_samples_refused", "Stats requests refused, by error code.", ["error_code"]
)
STATS_STORED = Counter(
    "pm_stats_samples_stored", "Stats samples written to the database (new ones only)."
)
STATS_DUPLICATES = Counter(
    "pm_stats_samples_duplicate", "Stats samples found already stored (a retry, a redelivery)."
)
INGEST_SHED_FACTOR = Gauge(
    "pm_ingest_shed_factor",
    "The stats sampling factor of the web processes under overload (1: every sample kept; "
    "N: one in N of each connection, api.ingest.overload).",
    multiprocess_mode="max",
)
INGEST_PACE = Gauge(
    "pm_ingest_pace_seconds",
    "How long each accepted stats request holds its slot while the queued sink's backlog is "
    "past its bound (api.ingest.overload).",
    multiprocess_mode="max",
)
WORKER_BATCH_SIZE = Histogram(
    "pm_ingest_worker_batch_size",
    "Messages per batch the ingest worker stored.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
)
WORKER_LAG = Histogram(
    "pm_ingest_worker_lag_seconds",
    "Time from a sample's acceptance to the commit of the batch that stored it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
WORKER_DROPPED = Counter(
    "pm_ingest_worker_dropped", "Queued samples dropped (undecodable, or their connection deleted)."
)
WORKER_RETRIES = Counter(
    "pm_ingest_worker_retries", "Batches retried because the database was unavailable."
)
WORKER_GROUP_RECREATED = Counter(
    "pm_ingest_worker_group_recreated",
    "Times the worker found its Redis consumer group gone (Redis restarted without its data) "
    "and created it again.",
)

# ---------------------------------------------------------------- quality

ISSUES_RAISED = Counter("pm_issues_raised", "Issues raised by the detectors, by code.", ["code"])

# ---------------------------------------------------------------- scheduler

SCHEDULED_RUNS = Counter(
    "pm_scheduled_runs",
    "Runs of scheduled commands, by command and outcome.",
    ["command", "outcome"],
)
SCHEDULED_LAST_SUCCESS = Gauge(
    "pm_scheduled_last_success_timestamp_seconds",
    "When each scheduled command last succeeded (Unix time).",
    ["command"],
    multiprocess_mode="max",
)

# ---------------------------------------------------------------- per request

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# (route, method, status) → the two label children: labels() takes a lock
# and builds a key on every call; this lookup is a dict read.
_request_children: dict[tuple[str, str, int], tuple] = {}


def request_observed(*, route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    children = _request_children.get(key)
    if children is None:
        shown = method if method in _METHODS else "other"
        children = (HTTP_REQUESTS.labels(route, shown, str(status)), HTTP_DURATION.labels(route))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


@functools.lru_cache(maxsize=1024)
def labelled(metric, *labels: str):
    """The child of ``metric`` for these label values (few distinct ones:
    sinks, error codes, issue codes), looked up once."""
    return metric.labels(*labels)


# ---------------------------------------------------------------- exposition

ScrapeCollector = Callable[[], Iterable[Metric]]
_scrape_collectors: list[ScrapeCollector] = []


def scrape_collector_add(collector: ScrapeCollector) -> None:
    """Register a function that reads state (Redis, the database) into
    metric families when ``/metrics`` is scraped."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


class _Collected:
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self.collect = collect


def _scraped(collector: ScrapeCollector) -> Iterable[Metric]:
    started = time.perf_counter()
    try:
        metrics = list(collector())
    except Exception as exc:
        # One unreachable source (Redis away) must not hide the others.
        logger.warning("metrics collector %s failed: %s", collector.__name__, exc)
        return []
    logger.debug(
        "metrics collector %s took %.3f s", collector.__name__, time.perf_counter() - started
    )
    return metrics


def exposition() -> bytes:
    """The Prometheus text format of every metric of this machine."""
    registry = CollectorRegistry(auto_describe=False)
    if _DIR is not None:
        MultiProcessCollector(registry, path=str(_DIR))
    else:
        registry.register(_Collected(REGISTRY.collect))
    for collector in _scrape_collectors:
        registry.register(_Collected(functools.partial(_scraped, collector)))
    return generate_latest(registry)
