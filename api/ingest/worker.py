"""The queued sink's consumer: Redis stream → database, in batches.

Delivery is at-least-once and storage exactly-once:

* a batch is read with XREADGROUP, stored in one transaction, and only then
  acknowledged (XACK) and deleted from the stream (XDEL). The transaction:
  the samples in one statement (binary COPY, then INSERT … ON CONFLICT DO
  NOTHING: a redelivered or retried sample is skipped); each new one
  analysed (:func:`api.quality.analysis.sample_analyse`), its connection
  type recorded and its detectors run, in order; then the metric rows of
  the whole batch in one statement;
* a worker killed mid-batch leaves its messages pending: the same consumer
  name re-reads its own pending messages first when it starts again, and any
  worker claims messages left idle by a consumer that is gone (XAUTOCLAIM);
* a message stored twice is a no-op, because the sample id is chosen when
  the request is accepted and travels in the message;
* a sample whose connection was deleted in the meantime is dropped (logged),
  never retried forever;
* while the database is down the batch is retried, with backoff, until it
  commits; nothing is acknowledged before that.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db import connection as db

from api.calls.models import Connection
from api.common import metrics
from api.common.ids import uuid7_seconds
from api.events.codec import report_compress
from api.events.writer import SampleRow, SampleToStore, rows_insert, samples_insert
from api.ingest.sinks.codec import QueuedSample, message_decode
from api.ingest.sinks.connections import (
    connection_type_seen,
    report_stored,
    sample_context,
    track_ids_forget,
    tracks_learn,
)
from api.quality import analysis as quality
from api.quality.models import TrackMetric
from api.quality.services import diagnoses_once

logger = logging.getLogger("api.ingest.worker")

# The Redis consumer group of every worker.
CONSUMER_GROUP = "ingest"


@dataclass
class WorkerStats:
    batches: int = 0
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0
    retries: int = 0
    redis_errors: int = 0
    groups_recreated: int = 0
    started: float = field(default_factory=time.monotonic)


def _to_store(sample: QueuedSample, raw: bytes) -> SampleToStore:
    state = sample.state
    return SampleToStore(
        id=sample.sample_id,
        row=SampleRow(
            app_id=state.app_id,
            conference_id=state.conference_id,
            connection_id=sample.connection_id,
            created_at=sample.at,
        ),
        digest=sample.digest,
        stored=report_compress(raw),
    )


# connection id → the candidate type this worker last stored for it: a
# message carries the type its accepting process had cached (often still
# empty); what this worker wrote since is newer, and saves an UPDATE per
# sample.
_types_seen: dict[uuid.UUID, str] = {}


def _sample_analysed(sample: QueuedSample, data: dict) -> list[tuple]:
    """The work after a new sample was stored: its metric rows (returned,
    for the batch's one INSERT), its connection type, its detectors.
    ``data`` is the report as stored (scrubbed)."""
    state = sample.state
    connection_id = sample.connection_id
    context = sample_context(
        state=state,
        connection_id=connection_id,
        sample_id=sample.sample_id,
        at=sample.at,
        data=data,
    )
    with quality.connection_locked(connection_id):
        analysis = quality.sample_analyse(context=context, data=data)
        candidate_type = analysis.candidate_type
        if candidate_type:
            seen = _types_seen.get(connection_id)
            known = state.type if seen is None else seen
            if candidate_type != known:
                # Rare (the pair changed): the state as this worker knows it.
                connection_type_seen(
                    state=replace(state, type=known),
                    connection_id=connection_id,
                    candidate_type=candidate_type,
                )
        quality.sample_detect(analysis)
    if candidate_type:
        if len(_types_seen) >= 100_000:
            _types_seen.clear()
        _types_seen[connection_id] = candidate_type
    return analysis.metric_rows


def batch_store(samples: list[QueuedSample]) -> tuple[int, int]:
    """Store a batch and run the post-storage work of the new samples, in
    one transaction. Returns (stored, dropped). Database errors raise, so
    the caller retries the batch."""
    # A connection deleted since its sample was accepted (its app or
    # conference was deleted) would fail the whole batch at commit, where
    # foreign keys are checked: drop such samples first, in one query.
    wanted = {s.connection_id for s in samples}
    existing = set(Connection.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    # Addresses scrubbed as each app says, before anything is stored. A
    # report is parsed for that, and parsed again for its analysis just
    # before it runs: a batch's 500 parsed reports held from one to the
    # other cost more (cold in the CPU's caches by then, and the allocator
    # with them) than the second parse (bench/profile_stats.py).
    kept: list[tuple[QueuedSample, bytes]] = []
    to_store: list[SampleToStore] = []
    for s in samples:
        if s.connection_id in existing:
            raw = report_stored(s.state.app_id, s.raw)
            kept.append((s, raw))
            to_store.append(_to_store(s, raw))
    dropped = len(samples) - len(kept)
    if dropped:
        logger.error(
            "dropping %d stats samples of deleted connections: %s",
            dropped,
            sorted(str(c) for c in wanted - existing),
        )
    # The detector state of the batch's connections: read once, written
    # after the commit (nothing kept if the batch fails and is retried).
    owners = [
        (s.connection_id, s.state.conference_id, s.state.participant_id, s.state.peer_id)
        for s, _ in kept
    ]
    try:
        with quality.samples_batch(owners), transaction.atomic(), diagnoses_once():
            new_ids = samples_insert(to_store)
            fresh = [(s, raw) for s, raw in kept if s.sample_id in new_ids]
            # The tracks of the batch's new connections, made at once.
            tracks_learn([(s.state, s.connection_id, raw) for s, raw in fresh])
            rows: list[tuple] = []
            for sample, raw in fresh:
                rows += _sample_analysed(sample, orjson.loads(raw))
            rows_insert(model=TrackMetric, columns=quality.METRIC_COLUMNS, rows=rows)
    except DatabaseError:
        # Rolled back: the tracks and connection types this attempt wrote
        # are not in the database, so what the caches learnt from them goes
        # too (the retry would name tracks that do not exist).
        track_ids_forget()
        _types_seen.clear()
        raise
    return len(new_ids), dropped


def _batch_observed(samples: list[QueuedSample], *, stored: int, dropped: int, size: int) -> None:
    now = time.time()
    metrics.WORKER_BATCH_SIZE.observe(size)
    metrics.STATS_STORED.inc(stored)
    metrics.STATS_DUPLICATES.inc(len(samples) - stored - dropped)
    if dropped:
        metrics.WORKER_DROPPED.inc(dropped)
    for sample in samples:
        # The sample id was made when the web process accepted the sample.
        metrics.WORKER_LAG.observe(max(0.0, now - uuid7_seconds(sample.sample_id)))


def worker_process_prepare() -> None:
    """Once per worker process, before its first batch: move what is alive
    by then (Django, the app registry, modules: most of the process) out
    of the cyclic garbage collector's reach (``gc.freeze``). A batch
    allocates some 100,000 containers (its parsed reports), so collections
    run often, and each full one walked every object of the process: 8 %
    of the worker's CPU (bench/profile_stats.py)."""
    gc.collect()
    gc.freeze()


class IngestWorker:
    def __init__(
        self,
        *,
        consumer: str,
        batch_size: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        max_backoff_s: float = 10.0,
        redis_url: str | None = None,
    ) -> None:
        # A client of its own: a batch read can be megabytes, and a loaded
        # Redis may answer it slowly; that is no reason to give up on it.
        self.redis = redis.Redis.from_url(
            redis_url or settings.CONFIG.redis_url or "",
            socket_timeout=block_ms / 1000 + 30,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        self.stream = settings.CONFIG.ingest_stream
        self.group = CONSUMER_GROUP
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_backoff_s = max_backoff_s
        self.stats = WorkerStats()
        self._own_pending_done = False
        self._redis_backoff = 0.5

    def ensure_group(self) -> None:
        try:
            # From the start of the stream: messages queued before the first
            # worker ever ran are not skipped.
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _next_batch(self) -> list[tuple[bytes, dict]]:
        if not self._own_pending_done:
            # Messages this consumer read before it was killed.
            reply: Any = self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: "0"}, count=self.batch_size
            )
            messages = reply[0][1] if reply else []
            if messages:
                return messages
            self._own_pending_done = True
        claimed: Any = self.redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=self.batch_size,
        )
        if claimed and claimed[1]:
            return claimed[1]
        reply = self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.batch_size,
            block=self.block_ms,
        )
        return reply[0][1] if reply else []

    def linger_after(self, handled: int, linger_s: float) -> float:
        """How long to wait after a batch of ``handled`` messages before
        reading the next: ``linger_s`` after a small batch (under half the
        batch size, not empty), so that a light load is stored in batches
        of some size (the batch's own cost, its transaction, statements and
        Redis round trips, is several ms: at 600 samples/s the worker read
        batches of 9 and spent 0.98 ms a sample, docs/benchmarks.md);
        nothing after a large one, which means a backlog, or an empty one
        (the read already waited ``block_ms``)."""
        return linger_s if 0 < handled < self.batch_size // 2 else 0.0

    def run_once(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Read, store and acknowledge one batch. Returns its size (0 when
        the stream had nothing, or Redis could not be reached: the worker
        waits, then goes on)."""
        try:
            handled = self._batch_handle(should_stop)
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                return self._redis_failed(exc, should_stop)
            # Redis came back without its data (no persistence, or a
            # failover to an empty replica): the stream and the group are
            # gone. Create them again and go on at once; what the web
            # processes forward from now on (their spools send again what
            # Redis lost: api.ingest.spool) is read from the stream's start.
            self.ensure_group()
            self._own_pending_done = False
            self.stats.groups_recreated += 1
            metrics.WORKER_GROUP_RECREATED.inc()
            logger.warning(
                "ingest worker %s: consumer group %r of stream %r was gone; created it again",
                self.consumer,
                self.group,
                self.stream,
            )
            return 0
        except redis.exceptions.RedisError as exc:
            return self._redis_failed(exc, should_stop)
        self._redis_backoff = 0.5
        return handled

    def _redis_failed(self, exc: Exception, should_stop: Callable[[], bool]) -> int:
        # Whatever this consumer had read stays in its pending list (read,
        # perhaps stored, not acknowledged): read that again first; storing
        # it twice is a no-op.
        self._own_pending_done = False
        self.stats.redis_errors += 1
        logger.warning(
            "ingest worker %s: Redis unavailable (%s: %s); retrying in %.1f s",
            self.consumer,
            exc.__class__.__name__,
            exc,
            self._redis_backoff,
        )
        if not should_stop():
            time.sleep(self._redis_backoff)
        self._redis_backoff = min(self.max_backoff_s, self._redis_backoff * 2)
        return 0

    def _batch_handle(self, should_stop: Callable[[], bool]) -> int:
        messages = self._next_batch()
        if not messages:
            return 0
        ids = [message_id for message_id, _ in messages]
        samples = []
        for message_id, fields in messages:
            payload = fields.get(b"m") if fields else None
            if payload is None:
                continue  # deleted from the stream after an earlier acknowledgement
            try:
                samples.append(message_decode(payload))
            except Exception:
                logger.error("dropping undecodable stats message %s", message_id)
                self.stats.dropped += 1
                metrics.WORKER_DROPPED.inc()
        backoff = 0.5
        while samples:
            try:
                stored, dropped = batch_store(samples)
                break
            except DatabaseError as exc:
                # The database is away (restart, failover): keep the batch,
                # acknowledge nothing, try again.
                self.stats.retries += 1
                metrics.WORKER_RETRIES.inc()
                logger.warning("batch of %d not stored (%s); retrying", len(samples), exc)
                db.close()
                if should_stop():
                    return 0
                time.sleep(backoff)
                backoff = min(self.max_backoff_s, backoff * 2)
        else:
            stored = dropped = 0
        _batch_observed(samples, stored=stored, dropped=dropped, size=len(ids))
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()
        self.stats.batches += 1
        self.stats.received += len(samples)
        self.stats.stored += stored
        self.stats.dropped += dropped
        self.stats.duplicates += len(samples) - stored - dropped
        return len(ids)

    def backlog(self) -> int | None:
        """Messages in the stream; None when Redis cannot say."""
        try:
            return self.redis.xlen(self.stream)
        except redis.exceptions.RedisError:
            return None
