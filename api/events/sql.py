"""Statements of the ingest hot path, sent with server-side parameter binding.

Django's psycopg backend binds parameters on the client: psycopg quotes every
value into the SQL text in Python, which for a multi-row INSERT of ~100
values cost more CPU than everything else the stats path does. The few
hot-path statements go through a plain psycopg cursor on the same
connection instead (same transaction, errors wrapped as Django's), and are
recorded in Django's query log like any other, so query-count tests still
see them. SQLite takes the ordinary cursor.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction


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
    SQL once and caches it). A batch (the worker's) is copied in binary
    into a temporary staging table and moved with one ``INSERT … SELECT``,
    where ``ON CONFLICT`` can skip duplicates (``COPY`` alone cannot): per
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
