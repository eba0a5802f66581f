"""The hot path's writes: the stats samples, and how its few statements
reach the database. Hot path: this module leaves the ORM.

The sample writer: one ``INSERT … ON CONFLICT DO NOTHING RETURNING id``
stores a sample (or a whole batch of them, for the queued sink's worker)
and makes a retried sample (same connection, same report digest, same day)
or a redelivered one (same id) a no-op in the same statement, without a
read before the write. PostgreSQL and SQLite (3.35+) both speak this SQL.

Server-side parameter binding: Django's psycopg backend binds parameters
on the client: psycopg quotes every value into the SQL text in Python,
which for a multi-row INSERT of ~100 values cost more CPU than everything
else the stats path does. The hot-path statements go through a plain
psycopg cursor on the same connection instead (:func:`execute`; same
transaction, errors wrapped as Django's), and are recorded in Django's
query log like any other, so query-count tests still see them. SQLite
takes the ordinary cursor.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from api.common.ids import uuid7
from api.events.codec import report_compress
from api.events.models import StatsSample

# ------------------------------------------------------------ statements


def execute(sql: str, params: list[Any], *, fetch: str | None = None) -> Any:
    """Run one statement; ``fetch`` is None, "one" or "all"."""
    # The connection itself, not django.db.connection: that proxy costs a
    # thread-local lookup on every attribute, dozens per request.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return _fetch(cursor, fetch)
    import psycopg

    db.ensure_connection()
    started = time.monotonic()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params)
        result = _fetch(cursor, fetch)
    _logged(db, sql, started)
    return result


def _logged(db, sql: str, started: float) -> None:
    """Record a statement in Django's query log (when it keeps one), so
    query-count tests and the debug toolbar see the hot path too."""
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})


def _fetch(cursor, fetch: str | None) -> Any:
    if fetch == "one":
        return cursor.fetchone()
    if fetch == "all":
        return cursor.fetchall()
    return None


def insert_many(
    *, model, columns: tuple[str, ...], rows: list, tail: str = "", returning: bool = False
) -> list:
    """Insert many rows (value tuples in ``columns`` order) into ``model``'s
    table in one statement; ``tail`` follows it (e.g. ``ON CONFLICT DO
    NOTHING RETURNING id``). Returns the rows it returned (``returning``).

    On PostgreSQL, a few rows (one sample's metrics) go as one single-row
    statement per row in a pipeline (``executemany``: psycopg parses the
    SQL once and caches it). A batch (the worker's) is copied in binary:
    straight into the table when there is no ``tail`` and nothing to
    return, else into a temporary staging table and moved with one
    ``INSERT … SELECT``, where ``ON CONFLICT`` can skip duplicates
    (``COPY`` alone cannot): per
    row ~4 µs of client CPU and ~13 µs of PostgreSQL CPU, against ~22 and
    ~32 for one array per column (``unnest``) and more for a statement per
    row (measured in docs/benchmarks.md). SQLite gets a multi-row
    ``VALUES``, in chunks under its parameter limit."""
    if not rows:
        return []
    db = connections[DEFAULT_DB_ALIAS]
    table = model._meta.db_table
    head = f'INSERT INTO "{table}" ({", ".join(columns)})'
    placeholder = f"({', '.join(['%s'] * len(columns))})"
    if db.vendor != "postgresql":
        found: list = []
        per_statement = max(1, SQLITE_MAX_PARAMS // len(columns))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = f"{head} VALUES {', '.join([placeholder] * len(chunk))}{tail}"
            params = [value for row in chunk for value in row]
            found.extend(execute(sql, params, fetch="all" if returning else None) or [])
        return found
    if len(rows) < COPY_FROM_ROWS:
        return _pipelined(f"{head} VALUES {placeholder}{tail}", rows, returning=returning)
    return _copied(model, columns, rows, head=head, tail=tail, returning=returning)


COPY_FROM_ROWS = 32


def _copied(
    model, columns: tuple[str, ...], rows: list, *, head: str, tail: str, returning: bool
) -> list:
    import psycopg

    db = connections[DEFAULT_DB_ALIAS]
    table = model._meta.db_table
    stage = f"stage_{table}"
    column_list = ", ".join(columns)
    db.ensure_connection()
    started = time.monotonic()
    if not tail and not returning:
        # Nothing to skip or return (the worker's metric rows): copied
        # into the table itself (PostgreSQL routes them to their
        # partitions), which spares the database a second write of every
        # row and three statements.
        copy_sql = f'COPY "{table}" ({column_list}) FROM STDIN (FORMAT BINARY)'
        with (
            db.wrap_database_errors,
            psycopg.Cursor(db.connection) as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            copy.set_types(_copy_types(model, columns))
            for row in rows:
                copy.write_row(row)
        _logged(db, f'COPY "{table}" …', started)
        return []
    # The staging table lives as long as the database session and is
    # emptied by every commit; the atomic block makes COPY and INSERT one
    # transaction even when the caller runs in autocommit.
    with (
        transaction.atomic(savepoint=False),
        db.wrap_database_errors,
        psycopg.Cursor(db.connection) as cursor,
    ):
        # Just these columns, without constraints (a column left out, such
        # as a sequence id, gets its default in the INSERT).
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS '
            f'AS SELECT {column_list} FROM "{table}" WITH NO DATA'
        )
        with cursor.copy(f'COPY "{stage}" ({column_list}) FROM STDIN (FORMAT BINARY)') as copy:
            copy.set_types(_copy_types(model, columns))
            for row in rows:
                copy.write_row(row)
        cursor.execute(f'{head} SELECT {column_list} FROM "{stage}"{tail}')
        found = cursor.fetchall() if returning else []
        cursor.execute(f'TRUNCATE "{stage}"')
    _logged(db, f'COPY "{stage}" … {head} …', started)
    return found


def _pipelined(sql: str, rows: list, *, returning: bool) -> list:
    import psycopg

    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    started = time.monotonic()
    found: list = []
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.executemany(sql, rows, returning=returning)
        if returning:
            while True:
                found.extend(cursor.fetchall())
                if not cursor.nextset():
                    break
    _logged(db, sql, started)
    return found


# SQLite allows 32766 bound parameters per statement.
SQLITE_MAX_PARAMS = 32_000


# PostgreSQL column types as psycopg's binary COPY names them.
_COPY_TYPES = {
    "timestamp with time zone": "timestamptz",
    "real": "float4",
    "double precision": "float8",
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "varchar": "text",
}


@functools.cache
def _copy_types(model, columns: tuple[str, ...]) -> tuple[str, ...]:
    db = connections[DEFAULT_DB_ALIAS]
    names = []
    for column in columns:
        field = model._meta.get_field(column.removesuffix("_id") if column != "id" else column)
        name = field.db_type(db).split("(")[0]
        names.append(_COPY_TYPES.get(name, name))
    return tuple(names)


# ----------------------------------------------------------------- samples

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
