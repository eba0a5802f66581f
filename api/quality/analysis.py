"""What one stats sample says about call quality, in the order the ingest
path needs it (hot path):

1. :func:`sample_analyse` (pure): the sample's per-track metric rows, from
   its report and the counters kept from the connection's previous sample.
   Nothing is written and nothing is changed, so the caller can store the
   rows with the sample in one statement, and a retried sample, which the
   store recognises, leaves no trace.
2. The caller stores the sample and its rows, and learns whether the
   sample was new.
3. :func:`sample_detect`, for a new sample only: the counters are kept for
   the next sample, the live detectors run, and the issues they raise or
   resolve are written.

The caller holds :func:`connection_locked` across the three: two samples of
one connection at once (a retry beside the next sample, in threads of one
process) must read and keep the counters in order.

SQL budget of a sample here: none in steady state (the app's stats interval
is cached per process); issues are written only when one changes. A
malformed report never raises (it is logged, and the sample is stored
without metrics); database errors do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from api.calls.models import Connection
from api.quality import metrics
from api.quality import state as live
from api.quality.conf import quality_setting
from api.quality.detectors import connectivity
from api.quality.detectors.streams import Marks, streams_detect
from api.quality.diagnosis import IssueChange
from api.quality.models import Issue
from api.quality.services import IssueScope, transitions_apply
from api.quality.state import ConnectionState, ParticipantMarks
from api.tenancy.models import App

logger = logging.getLogger("api.quality")


@dataclass(frozen=True)
class SampleContext:
    """Whose a stats sample is and when it was taken."""

    sample_id: Any
    app_id: Any
    conference_id: Any
    session_id: Any
    participant_id: Any
    peer_id: Any
    connection_id: Any
    created_at: datetime
    # (direction, kind, track identifier) → Track id, for the reports that name a track.
    track_ids: dict[tuple[str, str, str], Any]


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`sample_analyse`."""

    context: SampleContext
    # TrackMetric rows, values in METRIC_COLUMNS order.
    metric_rows: list[tuple]
    # The local candidate type of the selected pair, when the report names one.
    candidate_type: str | None
    # None when the report could not be analysed (logged).
    extraction: metrics.Extraction | None
    state: ConnectionState | None
    marks: Marks | None = None


def connection_locked(connection_id: Any) -> AbstractContextManager:
    """Hold while a sample of the connection is analysed, stored and detected."""
    return live.STATE.locked(connection_id)


def samples_batch(contexts: Iterable[tuple[Any, Any, Any, Any]]) -> AbstractContextManager:
    """Hold around a batch of samples (the queued worker), outside its
    transaction: the detector state of the batch's connections, given as
    (connection, conference, participant, peer) ids, is read once and
    written once the block ends without an exception (after the commit);
    if it raises, nothing is kept, and a retry starts from the same state."""
    return live.STATE.batch(contexts)


_intervals: dict[Any, tuple[float, float]] = {}


def _interval_s(app_id: Any) -> float:
    """The app's stats interval in seconds, cached per process: reading it
    per sample would cost a statement the hot path does not have."""
    now = time.monotonic()
    hit = _intervals.get(app_id)
    if hit is not None and now - hit[1] < float(quality_setting("INTERVAL_CACHE_SECONDS")):
        return hit[0]
    interval_ms = App.objects.filter(pk=app_id).values_list("interval", flat=True).first()
    seconds = (interval_ms or settings.CONFIG.stats_interval_ms) / 1000.0
    if len(_intervals) > 10_000:
        _intervals.clear()
    _intervals[app_id] = (seconds, now)
    return seconds


# A report may carry any number; a value no column can hold is dropped
# rather than failing the sample's INSERT (and the SDK's request with it).
_REAL_LIMIT = 1e30
_INT_LIMIT = 2**31 - 1


METRIC_COLUMNS = (
    "connection_id",
    "track_id",
    "created_at",
    "kind",
    "direction",
    "interval_s",
    "bitrate",
    "packet_rate",
    "packets",
    "packets_lost",
    "loss_pct",
    "jitter_ms",
    "rtt_ms",
    "jitter_buffer_ms",
    "fps",
    "width",
    "height",
    "freeze_count",
    "freeze_ms",
    "concealment_pct",
    "limitation",
    "mos",
    "video_score",
)


def _metric_row(context: SampleContext, s: metrics.StreamSample) -> tuple:
    """A TrackMetric row as values in METRIC_COLUMNS order, each real and
    integer checked against its column's limit inline (four rows a sample,
    a dozen values each: a function call per value cost more than the
    check)."""
    limit, int_limit = _REAL_LIMIT, _INT_LIMIT
    interval_s, bitrate, packet_rate = s.interval_s, s.bitrate, s.packet_rate
    packets, packets_lost, loss_pct = s.packets, s.packets_lost, s.loss_pct
    jitter_ms, rtt_ms, jitter_buffer_ms, fps = s.jitter_ms, s.rtt_ms, s.jitter_buffer_ms, s.fps
    freeze_ms, concealment_pct = s.freeze_ms, s.concealment_pct
    return (
        context.connection_id,
        s.track_id,
        context.created_at,
        s.kind,
        s.direction,
        interval_s if interval_s is not None and abs(interval_s) < limit else None,
        bitrate if bitrate is not None and abs(bitrate) < limit else None,
        packet_rate if packet_rate is not None and abs(packet_rate) < limit else None,
        packets if packets is not None and -int_limit <= packets <= int_limit else None,
        packets_lost
        if packets_lost is not None and -int_limit <= packets_lost <= int_limit
        else None,
        loss_pct if loss_pct is not None and abs(loss_pct) < limit else None,
        jitter_ms if jitter_ms is not None and abs(jitter_ms) < limit else None,
        rtt_ms if rtt_ms is not None and abs(rtt_ms) < limit else None,
        jitter_buffer_ms
        if jitter_buffer_ms is not None and abs(jitter_buffer_ms) < limit
        else None,
        fps if fps is not None and abs(fps) < limit else None,
        s.width,
        s.height,
        s.freeze_count,
        freeze_ms if freeze_ms is not None and abs(freeze_ms) < limit else None,
        concealment_pct if concealment_pct is not None and abs(concealment_pct) < limit else None,
        s.limitation,
        s.mos,
        s.video_score,
    )


_CANDIDATE_TYPES = set(Connection.Type.values)


def local_candidate_type(data: dict) -> str | None:
    """The local candidate type of the report's selected candidate pair."""
    pair = data.get("connection")
    local = pair.get("local") if isinstance(pair, dict) else None
    value = local.get("candidateType") if isinstance(local, dict) else None
    return value if isinstance(value, str) and value in _CANDIDATE_TYPES else None


def sample_analyse(*, context: SampleContext, data: dict) -> Analysis:
    """The metric rows of a sample (see the module docstring). Reads the
    connection's kept counters and changes nothing."""
    candidate_type = local_candidate_type(data)
    try:
        loaded = live.STATE.sample_load(
            context.connection_id, context.conference_id, context.participant_id, context.peer_id
        )
        state = loaded.connection
        extraction = metrics.sample_extract(
            data=data,
            at=context.created_at,
            interval_s=_interval_s(context.app_id),
            previous=state.counters,
            track_ids=context.track_ids,
        )
    except DatabaseError:
        raise
    except Exception:
        logger.exception("quality analysis failed for connection %s", context.connection_id)
        return Analysis(context, [], candidate_type, None, None)
    rows = [_metric_row(context, s) for s in extraction.streams]
    marks = Marks(own=loaded.own, peer=loaded.peer)
    return Analysis(context, rows, candidate_type, extraction, state, marks)


def sample_detect(analysis: Analysis) -> list[IssueChange]:
    """The analysed sample was stored and is new: keep its counters for
    the next sample, run the live detectors and write the issues they
    raise, resolve, escalate (see :mod:`api.quality.detectors`)."""
    extraction, state, context = analysis.extraction, analysis.state, analysis.context
    if extraction is None or state is None:
        return []
    try:
        state.counters = _counters_prune(extraction)
        seeded_events = False
        if not state.seeded:
            # First sample of the connection in this state (a new
            # connection, a restart, state lost): its open issues, so that
            # they resolve when their condition clears. One query, once.
            seeded_events = _open_issues_seed(state)
        marks = analysis.marks or Marks(own=ParticipantMarks(), peer=ParticipantMarks())
        if extraction.media_flowed:
            state.established = True
        transitions = connectivity.grace_check(state, now=context.created_at)
        # The connection's event-driven state is written back only when the
        # passing of time changed it (the web process that takes its events
        # writes it otherwise).
        events_changed = bool(transitions) or seeded_events
        transitions += streams_detect(state=state, extraction=extraction, marks=marks)
        live.STATE.connection_save(state, events=events_changed)
        if not transitions:
            return []
        scope = IssueScope(
            app_id=context.app_id,
            conference_id=context.conference_id,
            session_id=context.session_id,
            participant_id=context.participant_id,
            connection_id=context.connection_id,
        )
        return transitions_apply(transitions=transitions, scope=scope, now=context.created_at)
    except DatabaseError:
        raise
    except Exception:
        logger.exception("quality analysis failed for connection %s", context.connection_id)
        return []


def _open_issues_seed(state: ConnectionState) -> bool:
    """Read the connection's open issues into its rules. Returns whether
    one of them is driven by the connection's events (that part of the
    state must be written back too)."""
    state.seeded = True
    events = False
    for code, subject, created_at, peak, severity, data in Issue.objects.filter(
        connection_id=state.connection_id, resolved_at__isnull=True
    ).values_list("code", "subject", "created_at", "peak_value", "type", "data"):
        rule = state.rule(code, subject)
        if rule.open:
            continue
        rule.open, rule.onset, rule.severity = True, created_at, severity
        rule.peak = rule.written_peak = peak
        rule.evidence = data if isinstance(data, dict) else {}
        events = events or code in live.EVENT_CODES
    return events


def _counters_prune(extraction: metrics.Extraction) -> dict[str, dict]:
    """Forget streams that left the report (e.g. after a renegotiation) so a
    long call does not accumulate dead stats ids: once there are more than
    twice as many counters as live ones, and more than 16."""
    counters = extraction.counters
    if len(counters) <= 16:
        # The usual sample: no need to collect the live ids.
        return counters
    keep = {s.stats_id for s in extraction.streams} | set(_pair_keys(extraction))
    if len(counters) <= 2 * len(keep):
        return counters
    return {key: value for key, value in counters.items() if key in keep}


def _pair_keys(extraction: metrics.Extraction) -> list[str]:
    keys = [key for key in extraction.counters if key.startswith("remote:")]
    if extraction.pair is not None:
        keys.append(f"pair:{extraction.pair.pair_id}")
    return keys
