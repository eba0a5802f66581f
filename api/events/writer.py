"""The stats sample writer: one row per ``/v1/stats`` request.

This is the ingest hot path, so it leaves the ORM: one ``INSERT … ON
CONFLICT DO NOTHING RETURNING id`` stores a sample (or a whole batch of
them, for the queued sink's worker) and makes a retried sample (same
connection, same report digest, same day) or a redelivered one (same id) a
no-op in the same statement, without a read before the write. PostgreSQL
and SQLite (3.35+) both speak this SQL.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections

from api.common.ids import uuid7
from api.events.codec import report_compress
from api.events.models import StatsSample
from api.events.sql import execute, insert_many

_COLUMNS = (
    "id",
    "app_id",
    "conference_id",
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
_ON_CONFLICT = " ON CONFLICT DO NOTHING RETURNING id"


@dataclass(frozen=True)
class SampleRow:
    app_id: uuid.UUID
    conference_id: uuid.UUID
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


def _params(sample: SampleToStore, db) -> list | tuple:
    row = sample.row
    values = (
        sample.id,
        row.app_id,
        row.conference_id,
        row.connection_id,
        row.created_at,
        row.created_at.date(),
        sample.digest,
        sample.stored,
    )
    if db.vendor == "postgresql":
        return values  # psycopg adapts UUIDs, datetimes, dates and bytes itself
    return [field.get_db_prep_value(v, db) for field, v in zip(_FIELDS, values, strict=True)]  # type: ignore[union-attr]


def samples_insert(samples: list[SampleToStore]) -> set[uuid.UUID]:
    """Store samples; returns the ids of those that were new (a retried or
    redelivered sample is skipped by the unique indexes)."""
    db = connections[DEFAULT_DB_ALIAS]
    rows = insert_many(
        model=StatsSample,
        columns=_COLUMNS,
        rows=[_params(sample, db) for sample in samples],
        tail=_ON_CONFLICT,
        returning=True,
    )
    return {r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(r[0]) for r in rows}


def sample_with_rows_insert(
    sample: SampleToStore, *, model, columns: tuple[str, ...], rows: list[tuple]
) -> bool:
    """PostgreSQL: store a sample and, only if it was new, ``rows`` of
    ``model`` (its per-track metrics), in one statement and one round trip
    (in autocommit, its own transaction). Returns whether it was new.

    The rows travel as one JSON array (``json_populate_recordset`` over the
    table's row type): one parameter whatever their number, so the
    statement is prepared once, and orjson encodes them faster than the
    driver binds ~90 separate values."""
    import orjson

    db = connections[DEFAULT_DB_ALIAS]
    payload = orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows])
    sql = _sample_with_rows_sql(model, columns)
    return execute(sql, [*_params(sample, db), payload.decode()], fetch="one") is not None


@functools.cache
def _sample_with_rows_sql(model, columns: tuple[str, ...]) -> str:
    table = model._meta.db_table
    return (
        f'WITH s AS (INSERT INTO "{StatsSample._meta.db_table}" ({", ".join(_COLUMNS)}) '
        f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}){_ON_CONFLICT}), "
        f'm AS (INSERT INTO "{table}" ({", ".join(columns)}) '
        f'SELECT {", ".join(columns)} FROM json_populate_recordset(NULL::"{table}", %s::json) '
        "WHERE EXISTS (SELECT 1 FROM s)) "
        "SELECT id FROM s"
    )


def sample_insert(*, row: SampleRow, raw_report: bytes) -> uuid.UUID | None:
    """Store one sample; None when this exact report of this connection is
    already stored (an SDK retry)."""
    sample = sample_prepare(row=row, raw_report=raw_report)
    return sample.id if samples_insert([sample]) else None


def rows_insert(*, model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """One INSERT of plain value tuples (in ``columns`` order) into a
    hot-path table, without building model instances: the ORM's per-field
    preparation cost more than the statement itself. Values pass through
    each field's ``get_db_prep_value`` only where the database needs it
    (UUIDs and datetimes on SQLite)."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        fields = [model._meta.get_field(c.removesuffix("_id")) for c in columns]
        convert = [
            i
            for i, field in enumerate(fields)
            if field.get_internal_type() in {"UUIDField", "DateTimeField", "ForeignKey"}
        ]
        prepared = []
        for values in rows:
            row = list(values)
            for i in convert:
                row[i] = fields[i].get_db_prep_value(row[i], db)
            prepared.append(tuple(row))
        rows = prepared
    insert_many(model=model, columns=columns, rows=rows)
