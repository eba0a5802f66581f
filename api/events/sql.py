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

import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections


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
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return result


def _fetch(cursor, fetch: str | None) -> Any:
    if fetch == "one":
        return cursor.fetchone()
    if fetch == "all":
        return cursor.fetchall()
    return None


def insert_many(
    *, head: str, row_placeholder: str, rows: list, tail: str = "", returning: bool = False
) -> list:
    """``head VALUES row, row, ... tail`` for many rows in one round trip.

    On PostgreSQL a one-row statement is sent for each row in a pipeline
    (``executemany``): its SQL is parsed once and cached by psycopg, where a
    multi-row statement of more than 50 parameters is re-parsed in Python
    every time. SQLite gets the multi-row statement. Returns the rows the
    statements returned (with ``returning``)."""
    db = connections[DEFAULT_DB_ALIAS]
    if not rows:
        return []
    if db.vendor != "postgresql":
        sql = f"{head} VALUES {', '.join([row_placeholder] * len(rows))}{tail}"
        params = [value for row in rows for value in row]
        return execute(sql, params, fetch="all" if returning else None) or []
    import psycopg

    sql = f"{head} VALUES {row_placeholder}{tail}"
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
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return found
