"""The stats sample writer: one row per ``/v1/stats`` request.

This is the ingest hot path, so it leaves the ORM: one ``INSERT … ON
CONFLICT DO NOTHING RETURNING id`` stores a sample (or a whole batch of
them, for the queued sink's worker) and makes a retried sample (same
connection, same report digest, same day) or a redelivered one (same id) a
no-op in the same statement, without a read before the write. PostgreSQL
and SQLite (3.35+) both speak this SQL.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection as db

from api.common.ids import uuid7
from api.events.codec import report_compress
from api.events.models import StatsSample

_TABLE = StatsSample._meta.db_table
_COLUMNS = (
    "id",
    "app_id",
    "conference_id",
    "session_id",
    "participant_id",
    "peer_id",
    "connection_id",
    "created_at",
    "day",
    "digest",
    "raw",
)
_FIELDS = [
    StatsSample._meta.get_field(name.removesuffix("_id") if name != "id" else name)
    for name in _COLUMNS
]
_ROW = f"({', '.join(['%s'] * len(_COLUMNS))})"
_INSERT = f'INSERT INTO "{_TABLE}" ({", ".join(_COLUMNS)}) VALUES '
_ON_CONFLICT = " ON CONFLICT DO NOTHING RETURNING id"
# SQLite allows 32766 bound parameters per statement.
MAX_ROWS_PER_INSERT = 2000


@dataclass(frozen=True)
class SampleRow:
    app_id: uuid.UUID
    conference_id: uuid.UUID
    session_id: uuid.UUID
    participant_id: uuid.UUID
    peer_id: uuid.UUID
    connection_id: uuid.UUID
    created_at: datetime


@dataclass(frozen=True)
class SampleToStore:
    id: uuid.UUID
    row: SampleRow
    digest: bytes
    stored: bytes  # the compressed report


def report_digest(raw_report: bytes) -> bytes:
    return hashlib.blake2b(raw_report, digest_size=16).digest()


def sample_prepare(
    *, row: SampleRow, raw_report: bytes, sample_id: uuid.UUID | None = None
) -> SampleToStore:
    return SampleToStore(
        id=sample_id or uuid7(),
        row=row,
        digest=report_digest(raw_report),
        stored=report_compress(raw_report),
    )


def _params(sample: SampleToStore) -> list:
    row = sample.row
    values = (
        sample.id,
        row.app_id,
        row.conference_id,
        row.session_id,
        row.participant_id,
        row.peer_id,
        row.connection_id,
        row.created_at,
        row.created_at.date(),
        sample.digest,
        sample.stored,
    )
    return [field.get_db_prep_value(v, db) for field, v in zip(_FIELDS, values, strict=True)]


def samples_insert(samples: list[SampleToStore]) -> set[uuid.UUID]:
    """Store samples; returns the ids of those that were new (a retried or
    redelivered sample is skipped by the unique indexes)."""
    stored: set[uuid.UUID] = set()
    for start in range(0, len(samples), MAX_ROWS_PER_INSERT):
        chunk = samples[start : start + MAX_ROWS_PER_INSERT]
        params = [p for sample in chunk for p in _params(sample)]
        sql = _INSERT + ", ".join([_ROW] * len(chunk)) + _ON_CONFLICT
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        stored.update(r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(r[0]) for r in rows)
    return stored


def sample_insert(*, row: SampleRow, raw_report: bytes) -> uuid.UUID | None:
    """Store one sample; None when this exact report of this connection is
    already stored (an SDK retry)."""
    sample = sample_prepare(row=row, raw_report=raw_report)
    return sample.id if samples_insert([sample]) else None
