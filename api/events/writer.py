"""The stats sample writer: one row per ``/v1/stats`` request.

This is the ingest hot path, so it leaves the ORM for its single INSERT:
``ON CONFLICT DO NOTHING RETURNING id`` makes a retried sample (same
connection, same report digest) a no-op in the same statement that stores a
new one, without a read before the write. Both PostgreSQL and SQLite (3.35+)
speak this SQL.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime

from django.db import connection as db

from api.common.ids import uuid7
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
    "digest",
    "raw",
)
_FIELDS = [
    StatsSample._meta.get_field(name.removesuffix("_id") if name != "id" else name)
    for name in _COLUMNS
]
_SQL = (
    f'INSERT INTO "{_TABLE}" ({", ".join(_COLUMNS)}) '
    f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
    "ON CONFLICT (connection_id, digest) DO NOTHING RETURNING id"
)


@dataclass(frozen=True)
class SampleRow:
    app_id: uuid.UUID
    conference_id: uuid.UUID
    session_id: uuid.UUID
    participant_id: uuid.UUID
    peer_id: uuid.UUID
    connection_id: uuid.UUID
    created_at: datetime


def report_digest(raw_report: bytes) -> bytes:
    return hashlib.blake2b(raw_report, digest_size=16).digest()


def sample_insert(*, row: SampleRow, raw_report: bytes) -> uuid.UUID | None:
    """Store a sample; None when this exact report of this connection is
    already stored (an SDK retry)."""
    sample_id = uuid7()
    values = (
        sample_id,
        row.app_id,
        row.conference_id,
        row.session_id,
        row.participant_id,
        row.peer_id,
        row.connection_id,
        row.created_at,
        report_digest(raw_report),
        zlib.compress(raw_report, 6),
    )
    params = [
        field.get_db_prep_value(value, db) for field, value in zip(_FIELDS, values, strict=True)
    ]
    with db.cursor() as cursor:
        cursor.execute(_SQL, params)
        inserted = cursor.fetchone()
    return sample_id if inserted else None
