"""Calls out, streamed: JSON Lines and CSV records of conferences, made
while they are written (nothing is gathered first: a month of calls never
sits in memory). docs/interop.md documents the record shapes.

JSON Lines: per call, in this order, one object per line, each with its
``record`` kind:

* ``call`` — the conference, as ``GET /v1/conferences/{id}`` answers it
  (``ConferenceOut``), plus ``imported`` (the dump format, or null);
* ``participant`` — each participant linked to it (``ParticipantOut``),
  plus ``call``;
* ``connection`` — each connection (``ConnectionOut``);
* ``issue`` — each issue (``IssueOut``);
* ``metric`` — each per-track metric row: ``call``, ``participant``,
  ``peer``, ``connection``, ``track``, ``created_at`` and the metric columns
  of ``TrackMetric`` (units in the model).

CSV: the metric rows, one line each, with the call's id and application id,
the participant's and the connection's columns first.

Records are written by the query API's own schemas, so an exported object
is byte for byte what the API answers for it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson
from django.db.models import QuerySet

from api.calls.models import Conference, ConferenceParticipant, Connection, Participant
from api.common.time import iso
from api.interop.models import ImportedDump
from api.quality.analysis import METRIC_COLUMNS
from api.quality.models import Issue, TrackMetric
from api.query.schemas import ConferenceOut, ConnectionOut, IssueOut, ParticipantOut

# Conferences read from the database this many at a time; their
# participants, connections and issues with them in one query each.
CHUNK = 200
# Metric rows fetched this many at a time (a server-side cursor on PostgreSQL).
METRIC_CHUNK = 2000

_METRIC_VALUES = tuple(
    c for c in METRIC_COLUMNS if c not in {"connection_id", "track_id", "created_at"}
)
CSV_COLUMNS = (
    "call",
    "conference_id",
    "participant",
    "participant_id",
    "peer",
    "connection",
    "track",
    "created_at",
    *_METRIC_VALUES,
)


def _dump(record: dict[str, Any]) -> bytes:
    # As the API's renderer writes it (api.query.responses.JsonRenderer).
    return orjson.dumps(record, option=orjson.OPT_UTC_Z) + b"\n"


def _out(schema: type, obj: Any, record: str, **extra: Any) -> dict[str, Any]:
    return {"record": record, **schema.from_orm(obj).model_dump(), **extra}  # type: ignore[attr-defined]


def _chunks(queryset: QuerySet, size: int) -> Iterator[list]:
    chunk: list = []
    for item in queryset.iterator(chunk_size=size):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def conferences_of_app(
    *, app_id: Any, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[Conference]:
    """An app's calls created in [start, end), oldest first."""
    queryset = Conference.objects.filter(app_id=app_id)
    if start is not None:
        queryset = queryset.filter(created_at__gte=start)
    if end is not None:
        queryset = queryset.filter(created_at__lt=end)
    return queryset.order_by("created_at", "pk")


def _grouped(queryset: QuerySet, key: str) -> dict[Any, list]:
    out: dict[Any, list] = {}
    for obj in queryset:
        out.setdefault(getattr(obj, key), []).append(obj)
    return out


def _metric_rows(connection_ids: list[Any]) -> Iterator[tuple]:
    if not connection_ids:
        return iter(())
    return (
        TrackMetric.objects.filter(connection_id__in=connection_ids)
        .order_by("connection_id", "created_at", "id")
        .values_list("connection_id", "track_id", "created_at", *_METRIC_VALUES)
        .iterator(chunk_size=METRIC_CHUNK)
    )


def _calls(conferences: QuerySet[Conference]) -> Iterator[tuple[Conference, dict[str, Any]]]:
    """Each conference with what belongs to it (read a chunk at a time)."""
    for chunk in _chunks(conferences, CHUNK):
        ids = [c.pk for c in chunk]
        links = ConferenceParticipant.objects.filter(conference_id__in=ids).values_list(
            "conference_id", "participant_id"
        )
        participant_ids: dict[Any, list] = {}
        for conference_id, participant_id in links:
            participant_ids.setdefault(conference_id, []).append(participant_id)
        people = {
            p.pk: p
            for p in Participant.objects.filter(
                pk__in={pid for pids in participant_ids.values() for pid in pids}
            )
        }
        conns = _grouped(
            Connection.objects.filter(conference_id__in=ids).order_by("created_at", "pk"),
            "conference_id",
        )
        issues = _grouped(
            Issue.objects.filter(conference_id__in=ids).order_by("created_at", "pk"),
            "conference_id",
        )
        imported = dict(
            ImportedDump.objects.filter(conference_id__in=ids).values_list(
                "conference_id", "format"
            )
        )
        for conference in chunk:
            yield (
                conference,
                {
                    "participants": sorted(
                        (people[pid] for pid in participant_ids.get(conference.pk, [])),
                        key=lambda p: (p.created_at, str(p.pk)),
                    ),
                    "connections": conns.get(conference.pk, []),
                    "issues": issues.get(conference.pk, []),
                    "imported": imported.get(conference.pk),
                },
            )


def jsonl_lines(conferences: QuerySet[Conference]) -> Iterator[bytes]:
    """The JSON Lines export of ``conferences`` (see the module docstring)."""
    for conference, parts in _calls(conferences):
        call = conference.pk
        yield _dump(_out(ConferenceOut, conference, "call", imported=parts["imported"]))
        for participant in parts["participants"]:
            yield _dump(_out(ParticipantOut, participant, "participant", call=call))
        by_id = {}
        for connection in parts["connections"]:
            by_id[connection.pk] = connection
            yield _dump(_out(ConnectionOut, connection, "connection"))
        for issue in parts["issues"]:
            yield _dump(_out(IssueOut, issue, "issue"))
        for row in _metric_rows(list(by_id)):
            connection = by_id[row[0]]
            record = {
                "record": "metric",
                "call": call,
                "participant": connection.participant_id,
                "peer": connection.peer_id,
                "connection": row[0],
                "track": row[1],
                "created_at": row[2],
                **dict(zip(_METRIC_VALUES, row[3:], strict=True)),
            }
            yield _dump(record)


class _Line:
    """A file for csv.writer that hands back what was written."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def take(self) -> bytes:
        value = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return value.encode()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    return value


def csv_lines(conferences: QuerySet[Conference]) -> Iterator[bytes]:
    """The CSV export of ``conferences``: a header, then per-track metric
    rows (see the module docstring)."""
    out = _Line()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield out.take()
    participants: dict[Any, str] = {}
    for conference, parts in _calls(conferences):
        for participant in parts["participants"]:
            participants[participant.pk] = participant.participant_id
        by_id = {c.pk: c for c in parts["connections"]}
        rows: Iterable[tuple] = _metric_rows(list(by_id))
        for row in rows:
            connection = by_id[row[0]]
            writer.writerow(
                [
                    conference.pk,
                    conference.conference_id,
                    connection.participant_id,
                    participants.get(connection.participant_id, ""),
                    connection.peer_id,
                    row[0],
                    _cell(row[1]),
                    _cell(row[2]),
                    *(_cell(v) for v in row[3:]),
                ]
            )
            yield out.take()
        if len(participants) > 10_000:
            participants.clear()


def batched(lines: Iterable[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    """Lines joined into chunks of about ``size`` bytes (one write each)."""
    parts: list[bytes] = []
    length = 0
    for line in lines:
        parts.append(line)
        length += len(line)
        if length >= size:
            yield b"".join(parts)
            parts, length = [], 0
    if parts:
        yield b"".join(parts)
