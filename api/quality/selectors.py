"""Reads of call quality: time series for graphs, summaries, issues.

Everything is computed from the typed metric rows (``TrackMetric``) and the
issues, never from the raw stats samples, so it works while a conference
is running and after ``POST_CONFERENCE_CLEANUP`` deleted the raw samples.
Every function returns JSON-ready values (str, int, float, None, lists,
dicts); times are ISO 8601 UTC strings except the graph points' ``t``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from operator import itemgetter
from typing import Any

from django.db import connection as db
from django.db.models import Count, Field, Q

from api.calls.models import Conference, Connection, Track
from api.common import time as clock
from api.common.time import iso
from api.quality.catalogue import CATALOGUE
from api.quality.conf import quality_setting, rule_settings
from api.quality.diagnosis import CAUSE_CODES
from api.quality.models import Issue, TrackMetric

# Graph columns, each with its SQL aggregate over the metric rows of a time
# bucket and the decimals kept: rates are averaged, counts summed, and
# quality measures keep the bucket's worst value, so a one-sample spike of
# loss or a dip of MOS survives downsampling.
_AGGREGATES: dict[str, tuple[str, str, int]] = {
    "bitrate": ("AVG", "bitrate", 0),
    "packet_rate": ("AVG", "packet_rate", 1),
    "packets_lost": ("SUM", "packets_lost", 0),
    "loss_pct": ("MAX", "loss_pct", 2),
    "jitter_ms": ("MAX", "jitter_ms", 1),
    "rtt_ms": ("MAX", "rtt_ms", 1),
    "jitter_buffer_ms": ("MAX", "jitter_buffer_ms", 1),
    "concealment_pct": ("MAX", "concealment_pct", 2),
    "mos": ("MIN", "mos", 2),
    "fps": ("MIN", "fps", 1),
    "width": ("MAX", "width", 0),
    "height": ("MAX", "height", 0),
    "freeze_count": ("SUM", "freeze_count", 0),
    "freeze_ms": ("SUM", "freeze_ms", 0),
    "video_score": ("MIN", "video_score", 2),
    "cpu_limited_pct": ("AVG", "CASE WHEN limitation = 'cpu' THEN 100.0 ELSE 0.0 END", 1),
    "bandwidth_limited_pct": (
        "AVG",
        "CASE WHEN limitation = 'bandwidth' THEN 100.0 ELSE 0.0 END",
        1,
    ),
}
_COMMON = ["bitrate", "packet_rate", "packets_lost", "loss_pct"]
GRAPH_COLUMNS: dict[tuple[str, str], list[str]] = {
    ("audio", "inbound"): [
        *_COMMON,
        "jitter_ms",
        "rtt_ms",
        "jitter_buffer_ms",
        "concealment_pct",
        "mos",
    ],
    ("audio", "outbound"): [*_COMMON, "jitter_ms", "rtt_ms"],
    ("video", "inbound"): [
        *_COMMON,
        "jitter_ms",
        "rtt_ms",
        "jitter_buffer_ms",
        "fps",
        "width",
        "height",
        "freeze_count",
        "freeze_ms",
        "video_score",
    ],
    ("video", "outbound"): [
        *_COMMON,
        "rtt_ms",
        "fps",
        "width",
        "height",
        "cpu_limited_pct",
        "bandwidth_limited_pct",
    ],
}
_NAMES = list(_AGGREGATES)


def _epoch_sql(column: str = "created_at") -> str:
    if db.vendor == "postgresql":
        # date_part is double precision; EXTRACT would compute in numeric.
        return f"date_part('epoch', {column})"
    # SQLite stores UTC datetimes as text; julianday() parses them.
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _aggregate_sql(function: str, expression: str, decimals: int) -> str:
    """Rounded in SQL, as a double (or an integer for 0 decimals). AVG is
    written SUM/COUNT over doubles: PostgreSQL's AVG keeps an array per
    group, which made the aggregate spill to disk."""
    if function == "AVG":
        value = f"SUM(CAST({expression} AS DOUBLE PRECISION)) / NULLIF(COUNT({expression}), 0)"
    else:
        value = f"CAST({function}({expression}) AS DOUBLE PRECISION)"
    if decimals == 0:
        return f"CAST(ROUND({value}) AS BIGINT)"
    scale = 10**decimals
    return f"ROUND({value} * {scale}) / {scale}"


def _bucket_sql(epoch: str) -> str:
    """Bucket number of a row: 0 … points − 1 (a row exactly at the end of
    the window joins the last bucket)."""
    if db.vendor == "postgresql":
        return f"LEAST(FLOOR(({epoch} - %s) / %s), %s)"
    # Never negative (rows start at the window's start): truncation is floor.
    return f"MIN(CAST(({epoch} - %s) / %s AS INTEGER), %s)"


def _db_value(field_name: str, value: Any) -> Any:
    field = TrackMetric._meta.get_field(field_name)
    assert isinstance(field, Field)
    return field.get_db_prep_value(value, db)


def _in_sql(column: str, values: list) -> tuple[str, list]:
    """``column`` is one of ``values``: one array parameter on PostgreSQL
    (the statement stays the same whatever the count), placeholders on
    SQLite."""
    if db.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN ({', '.join(['%s'] * len(values)) or 'NULL'})", values


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def conference_graphs(
    *,
    conference_id: Any,
    points: int = 300,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Time series of every track of a conference, downsampled in SQL to at
    most ``points`` time buckets per track (per bucket: rates averaged,
    counts summed, quality measures at their worst — see ``_AGGREGATES``).
    Works while the conference runs (the window then ends now).

    Raises ``Conference.DoesNotExist``. Shape::

        {"conference": "<uuid>", "ongoing": bool,
         "start": iso, "end": iso, "bucket_seconds": float, "points": int,
         "series": [{
             "track": "<uuid>" | None, "track_identifier": str | None, "label": str | None,
             "kind": "audio" | "video", "direction": "inbound" | "outbound",
             "connection": "<uuid>", "session": "<uuid>",
             "participant": "<uuid>", "participant_id": str, "participant_name": str | None,
             "peer": "<uuid>", "peer_id": str, "peer_name": str | None,
             "columns": ["t", "bitrate", ...],    # see GRAPH_COLUMNS
             "data": [[t, v1, v2, ...], ...],     # t = first sample of the bucket, ms since epoch
         }, ...]}

    Units: bit/s, packets/s, %, ms, frames/s, pixels; ``mos`` and
    ``video_score`` 1–5; ``*_limited_pct`` the share of samples limited.
    """
    conference = Conference.objects.only(
        "id", "ongoing", "start_time", "end_time", "created_at"
    ).get(pk=conference_id)
    points = min(max(int(points), 1), 5000)
    window_start = start or conference.start_time or conference.created_at
    window_end = end or (
        clock.now() if conference.ongoing or conference.end_time is None else conference.end_time
    )
    if window_end < window_start:
        window_end = window_start
    width = max((window_end - window_start).total_seconds() / points, 0.001)

    # A conference's rows are found through its connections (the metric
    # rows are indexed by connection, see TrackMetric).
    connections = _connections_meta(conference.pk)
    connection_in, connection_params = _in_sql(
        "connection_id", [_db_value("connection", pk) for pk in connections]
    )
    epoch = _epoch_sql()
    aggregates = ", ".join(_aggregate_sql(*_AGGREGATES[name]) for name in _NAMES)
    # Keys come back as text: 48 series need 48 UUIDs, not one per bucket.
    # No ORDER BY: sorting 300 points of each series here is cheaper than
    # sorting every bucket row in the database.
    sql = (
        "SELECT CAST(connection_id AS TEXT), CAST(track_id AS TEXT), kind, direction, "
        f"{_bucket_sql(epoch)} AS bucket, "
        f"CAST(ROUND({_epoch_sql('MIN(created_at)')} * 1000) AS BIGINT), "
        f"{aggregates} "
        f'FROM "{TrackMetric._meta.db_table}" '
        f"WHERE {connection_in} AND created_at >= %s AND created_at <= %s "
        "GROUP BY connection_id, track_id, kind, direction, bucket"
    )
    params = [
        window_start.timestamp(),
        width,
        points - 1,
        *connection_params,
        _db_value("created_at", window_start),
        _db_value("created_at", window_end),
    ]
    rows = []
    if connections:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()

    tracks = _tracks_meta(conference.pk)
    series: dict[tuple, dict[str, Any]] = {}
    # Each series keeps its own columns: [t, ...] picked from the row by
    # position (5 is t, the aggregates follow).
    pickers: dict[tuple, tuple[list, Any]] = {}
    for row in rows:
        key = row[:4]
        found = pickers.get(key)
        if found is None:
            connection_key, track_key, kind, direction = key
            connection_id, track_id = _as_uuid(connection_key), _as_uuid(track_key)
            entry = series[key] = _series_head(
                connections.get(connection_id, {}) if connection_id else {},
                tracks.get(track_id, {}) if track_id else {},
                connection_id=connection_id,
                track_id=track_id,
                kind=kind,
                direction=direction,
            )
            positions = [5, *(6 + _NAMES.index(name) for name in entry["columns"][1:])]
            found = pickers[key] = (entry["data"], itemgetter(*positions))
        data, pick = found
        data.append(list(pick(row)))
    for entry in series.values():
        # A bucket's time is unique within a series: plain list order sorts
        # by it, without a key function call per point.
        entry["data"].sort()
    return {
        "conference": str(conference.pk),
        "ongoing": conference.ongoing,
        "start": iso(window_start),
        "end": iso(window_end),
        "bucket_seconds": round(width, 3),
        "points": points,
        "series": sorted(series.values(), key=_series_order),
    }


def _series_order(entry: dict[str, Any]) -> tuple:
    return (
        entry["participant_id"] or "",
        entry["peer_id"] or "",
        entry["kind"],
        entry["direction"],
        entry["track"] or "",
    )


def _connections_meta(conference_id: Any) -> dict[uuid.UUID, dict[str, Any]]:
    rows = Connection.objects.filter(conference_id=conference_id).values(
        "id",
        "session_id",
        "participant_id",
        "participant__participant_id",
        "participant__participant_name",
        "peer_id",
        "peer__participant_id",
        "peer__participant_name",
    )
    return {row["id"]: dict(row) for row in rows}


def _tracks_meta(conference_id: Any) -> dict[uuid.UUID, dict[str, Any]]:
    rows = Track.objects.filter(connection__conference_id=conference_id).values(
        "id", "track_id", "label"
    )
    return {row["id"]: dict(row) for row in rows}


def _series_head(
    connection: dict, track: dict, *, connection_id, track_id, kind: str, direction: str
) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "track": text(track_id),
        "track_identifier": track.get("track_id"),
        "label": track.get("label"),
        "kind": kind,
        "direction": direction,
        "connection": text(connection_id),
        "session": text(connection.get("session_id")),
        "participant": text(connection.get("participant_id")),
        "participant_id": connection.get("participant__participant_id"),
        "participant_name": connection.get("participant__participant_name"),
        "peer": text(connection.get("peer_id")),
        "peer_id": connection.get("peer__participant_id"),
        "peer_name": connection.get("peer__participant_name"),
        "columns": ["t", *GRAPH_COLUMNS.get((kind, direction), [])],
        "data": [],
    }


# ---------------------------------------------------------------- summaries


def _percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks (like percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 2)


def _setup_ms(info: dict | None) -> float | None:
    negotiations = (info or {}).get("negotiations") or []
    first = negotiations[0] if negotiations else None
    if not first or first.get("status") != "connected" or first.get("duration") is None:
        return None
    return round(float(first["duration"]) * 1000.0, 1)


# Network measures summarised, with the threshold whose share of time is
# counted: the raise thresholds of their detectors (high_packet_loss,
# high_rtt, high_jitter; jitter of incoming audio only, as the detector).
_NETWORK = (("loss_pct", "high_packet_loss"), ("rtt_ms", "high_rtt"), ("jitter_ms", "high_jitter"))


def _network(ids: list[Any]) -> dict[str, Any]:
    """p50/p95 of loss, RTT and jitter over the incoming streams' intervals,
    and the share of measured time above each detector's threshold."""
    rows = TrackMetric.objects.filter(
        connection_id__in=ids,
        direction=TrackMetric.Direction.INBOUND,
        interval_s__isnull=False,
    ).values_list("kind", "loss_pct", "rtt_ms", "jitter_ms", "interval_s")
    values: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in _NETWORK}
    for kind, loss, rtt, jitter, interval in rows:
        seconds = interval or 0.0
        if loss is not None:
            values["loss_pct"].append((loss, seconds))
        if rtt is not None:
            values["rtt_ms"].append((rtt, seconds))
        if jitter is not None and kind == TrackMetric.Kind.AUDIO:
            values["jitter_ms"].append((jitter, seconds))
    out: dict[str, Any] = {}
    for name, code in _NETWORK:
        threshold = float(rule_settings(code)["raise"])
        measured = values[name]
        total = sum(seconds for _, seconds in measured)
        above = sum(seconds for value, seconds in measured if value > threshold)
        numbers = [value for value, _ in measured]
        out[name] = {
            "p50": _percentile(numbers, 0.5),
            "p95": _percentile(numbers, 0.95),
            "threshold": threshold,
            "share_above": round(above / total, 3) if total else None,
            "samples": len(numbers),
        }
    return out


def _summary(*, connections: list[dict[str, Any]], conference_id: Any, issues: Q) -> dict[str, Any]:
    """The summary blocks over ``connections`` (rows with id and
    connection_info) of one conference."""
    ids = [c["id"] for c in connections]
    threshold = float(quality_setting("MOS_THRESHOLD"))
    audio = TrackMetric.objects.filter(
        connection_id__in=ids,
        kind=TrackMetric.Kind.AUDIO,
        direction=TrackMetric.Direction.INBOUND,
        mos__isnull=False,
    ).values_list("mos", "interval_s")
    scores: list[float] = []
    below_s = 0.0
    for score, interval in audio:
        if score is None:  # excluded by the filter; for the types
            continue
        scores.append(score)
        if score < threshold:
            below_s += interval or 0.0
    video = TrackMetric.objects.filter(
        connection_id__in=ids,
        kind=TrackMetric.Kind.VIDEO,
        direction=TrackMetric.Direction.INBOUND,
        interval_s__isnull=False,
    ).values_list("video_score", "freeze_count", "freeze_ms")
    video_scores: list[float] = []
    freezes, freeze_ms = 0, 0.0
    for score, count, frozen in video:
        if score is not None:
            video_scores.append(score)
        freezes += count or 0
        freeze_ms += frozen or 0.0
    network = _network(ids)
    setups = [ms for ms in (_setup_ms(c["connection_info"]) for c in connections) if ms is not None]
    by_code = {
        row["code"]: row["count"]
        for row in Issue.objects.filter(issues)
        .values("code")
        .annotate(count=Count("id"))
        .order_by("-count", "code")
    }
    open_count = Issue.objects.filter(issues, resolved_at__isnull=True).count()
    return {
        "audio": {
            "mos_p5": _percentile(scores, 0.05),
            "mos_median": _percentile(scores, 0.5),
            "mos_threshold": threshold,
            # Summed over incoming audio streams (two streams below for a
            # minute count two minutes).
            "minutes_below_threshold": round(below_s / 60.0, 2),
            "samples": len(scores),
        },
        "video": {
            "score_median": _percentile(video_scores, 0.5),
            "freeze_count": freezes,
            "freeze_seconds": round(freeze_ms / 1000.0, 1),
        },
        "network": network,
        "setup_time_ms": {
            "median": _percentile(setups, 0.5),
            "max": max(setups) if setups else None,
            "connections": len(setups),
        },
        "issues": {
            "total": sum(by_code.values()),
            "open": open_count,
            "by_code": by_code,
        },
    }


def _causes(conference_id: Any) -> list[dict[str, Any]]:
    """The conference's diagnoses (primary issues of a cause), in words."""
    out = []
    for issue in Issue.objects.filter(conference_id=conference_id, code__in=CAUSE_CODES).order_by(
        "created_at"
    ):
        data = issue.data if isinstance(issue.data, dict) else {}
        out.append(
            {
                "issue": str(issue.pk),
                "code": issue.code,
                "type": issue.type,
                "summary": data.get("summary", ""),
                "did": data.get("did", []),
                "affected": [a.get("participant") for a in data.get("affected", [])],
                "likely_cause": data.get("likely_cause") or {},
                "created_at": iso(issue.created_at),
                "resolved_at": iso(issue.resolved_at),
            }
        )
    return out


def _causes_of(causes: list[dict[str, Any]], participant: str) -> list[dict[str, Any]]:
    """The causes a participant suffered from or was the likely cause of."""
    return [
        c
        for c in causes
        if participant in c["affected"] or c["likely_cause"].get("participant") == participant
    ]


def _connection_rows(**filters: Any) -> list[dict[str, Any]]:
    rows = Connection.objects.filter(**filters).values(
        "id", "participant_id", "connection_info", "conference_id"
    )
    return [dict(row) for row in rows]


def conference_quality_summary(*, conference_id: Any) -> dict[str, Any]:
    """Quality of a conference from its metrics: ``audio`` (MOS p5/median
    of every incoming audio stream, stream-minutes below ``MOS_THRESHOLD``),
    ``video`` (median score, freezes), ``setup_time_ms`` (first negotiation
    of each connection), ``issues`` (counts by code), and the same blocks
    per participant under ``participants``. Shape::

        {"conference": "<uuid>", "audio": {...}, "video": {...},
         "setup_time_ms": {...}, "issues": {...},
         "participants": [{"participant": "<uuid>", "audio": ..., ...}, ...]}
    """
    connections = _connection_rows(conference_id=conference_id)
    causes = _causes(conference_id)
    summary = {
        "conference": str(conference_id),
        **_summary(
            connections=connections,
            conference_id=conference_id,
            issues=Q(conference_id=conference_id),
        ),
    }
    summary["issues"]["causes"] = causes
    participants = sorted({str(c["participant_id"]) for c in connections})
    summary["participants"] = []
    for participant in participants:
        block = {
            "participant": participant,
            **_summary(
                connections=[c for c in connections if str(c["participant_id"]) == participant],
                conference_id=conference_id,
                issues=Q(conference_id=conference_id, participant_id=participant),
            ),
        }
        block["issues"]["causes"] = _causes_of(causes, participant)
        summary["participants"].append(block)
    return summary


def participant_quality_summary(*, conference_id: Any, participant_id: Any) -> dict[str, Any]:
    """The summary blocks of :func:`conference_quality_summary` for what one
    participant experienced in one conference (its connections' incoming
    streams, its issues)."""
    summary = {
        "conference": str(conference_id),
        "participant": str(participant_id),
        **_summary(
            connections=_connection_rows(
                conference_id=conference_id, participant_id=participant_id
            ),
            conference_id=conference_id,
            issues=Q(conference_id=conference_id, participant_id=participant_id),
        ),
    }
    summary["issues"]["causes"] = _causes_of(_causes(conference_id), str(participant_id))
    return summary


def connection_quality_summary(*, connection_id: Any) -> dict[str, Any]:
    """The summary blocks for one connection. Raises
    ``Connection.DoesNotExist``."""
    connections = _connection_rows(pk=connection_id)
    if not connections:
        raise Connection.DoesNotExist(connection_id)
    summary = {
        "connection": str(connection_id),
        **_summary(
            connections=connections,
            conference_id=connections[0]["conference_id"],
            issues=Q(connection_id=connection_id),
        ),
    }
    # The causes its symptoms are linked to.
    linked = set(
        Issue.objects.filter(connection_id=connection_id, cause__isnull=False).values_list(
            "cause_id", flat=True
        )
    )
    summary["issues"]["causes"] = [
        c for c in _causes(connections[0]["conference_id"]) if uuid.UUID(c["issue"]) in linked
    ]
    return summary


# ------------------------------------------------------------------- issues


def issue_as_dict(issue: Issue) -> dict[str, Any]:
    """An issue for the API: the catalogue's title and explanation, its
    interval (``duration`` in seconds, None while open) and evidence."""
    kind = CATALOGUE.get(issue.code)

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "id": str(issue.pk),
        "code": issue.code,
        "type": issue.type,
        "title": kind.title if kind else issue.code,
        "explanation": kind.explanation if kind else "",
        "subject": issue.subject,
        "conference": text(issue.conference_id),
        "session": text(issue.session_id),
        "participant": text(issue.participant_id),
        "connection": text(issue.connection_id),
        "track": text(issue.track_id),
        "created_at": iso(issue.created_at),
        "resolved_at": iso(issue.resolved_at),
        "duration": issue.duration,
        "peak_value": issue.peak_value,
        "data": issue.data,
        # The diagnosis this issue is a symptom of (None: a primary issue).
        "cause": text(issue.cause_id),
    }


def conference_issues(*, conference_id: Any) -> list[dict[str, Any]]:
    """Every issue of a conference, oldest first, as :func:`issue_as_dict`."""
    return [
        issue_as_dict(issue)
        for issue in Issue.objects.filter(conference_id=conference_id).order_by("created_at")
    ]
