"""Daily range partitions for the high-volume tables on PostgreSQL.

Stats samples and per-track metrics grow by one row per sample (and per
track) for ever; partitioned by day, retention is ``DROP TABLE`` of whole
days instead of a ``DELETE`` that bloats the table, and a day being written
keeps its indexes small. A ``DEFAULT`` partition takes rows for days that
have no partition yet (maintenance fell behind, or a badly back-dated
sample), so an insert never fails for want of one; ``partition_ensure``
moves such rows into their day when it creates it.

SQLite has no partitions: there, retention deletes old rows in batches.

Each app declares its own partitioned tables and registers them when it is
ready (``partitioned_table_register``): this module knows only its own
(the stats samples), and ``maintain_partitions`` works on every table
registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection as db
from django.db import transaction


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    key: str  # the partition key column
    key_is_date: bool  # a date column (else a timestamptz)
    # Identity/serial primary key column that needs a plain sequence default
    # (PostgreSQL 15 has no identity columns on partitioned tables).
    sequence_column: str | None = None
    # The model ("app_label.ModelName") whose old rows SQLite deletes.
    model: str | None = None

    @property
    def retention_lookup(self) -> str:
        """The ORM lookup of rows older than a day (SQLite's retention)."""
        return f"{self.key}__lt" if self.key_is_date else f"{self.key}__date__lt"


SAMPLES = PartitionedTable(
    table="events_statssample", key="day", key_is_date=True, model="events.StatsSample"
)

_registered: dict[str, PartitionedTable] = {SAMPLES.table: SAMPLES}


def partitioned_table_register(table: PartitionedTable) -> None:
    """Put ``table`` under ``maintain_partitions`` (an app's ``ready()``
    calls it; registering twice is harmless)."""
    _registered[table.table] = table


def partitioned_tables() -> tuple[PartitionedTable, ...]:
    return tuple(_registered.values())


def _bound(table: PartitionedTable, day: date) -> str:
    return f"'{day.isoformat()}'" if table.key_is_date else f"'{day.isoformat()} 00:00:00+00'"


def _partition_name(table: PartitionedTable, day: date) -> str:
    return f"{table.table}_p{day:%Y%m%d}"


def is_partitioned(table: PartitionedTable) -> bool:
    if db.vendor != "postgresql":
        return False
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND n.nspname = current_schema()",
            [table.table],
        )
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def convert_to_partitioned(schema_editor, table: PartitionedTable) -> None:
    """Rebuild ``table`` as a partitioned table with the same columns,
    indexes, constraints and rows (migration helper; PostgreSQL only).

    The primary key becomes (pk, partition key): a unique index of a
    partitioned table must contain its partition key."""
    if schema_editor.connection.vendor != "postgresql" or is_partitioned(table):
        return
    name, key = table.table, table.key
    tmp = f"{name}__partitioned"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = %s AND schemaname = current_schema()",
            [name],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass",
            [name],
        )
        constraints = cursor.fetchall()
        pk_name = next(c[0] for c in constraints if c[1] == "p")
        pk_columns = (
            next(c[2] for c in constraints if c[1] == "p")
            .removeprefix("PRIMARY KEY (")
            .removesuffix(")")
        )
        constraint_indexes = {c[0] for c in constraints if c[1] in ("p", "u")}

        cursor.execute(
            f'CREATE TABLE "{tmp}" (LIKE "{name}" INCLUDING DEFAULTS) PARTITION BY RANGE ("{key}")'
        )
        if table.sequence_column:
            column = table.sequence_column
            # Not the identity's own sequence name: that one goes with the old table.
            sequence = f"{name}_{column}_pseq"
            cursor.execute(f'CREATE SEQUENCE "{sequence}"')
            cursor.execute(
                f'ALTER TABLE "{tmp}" ALTER COLUMN "{column}" SET DEFAULT nextval(\'"{sequence}"\')'
            )
        cursor.execute(f'CREATE TABLE "{tmp}_default" PARTITION OF "{tmp}" DEFAULT')
        cursor.execute(f'INSERT INTO "{tmp}" SELECT * FROM "{name}"')
        if table.sequence_column:
            cursor.execute(
                f'SELECT setval(\'"{sequence}"\', COALESCE((SELECT MAX("{column}") '
                f'FROM "{tmp}"), 0) + 1, false)'
            )
        cursor.execute(f'DROP TABLE "{name}" CASCADE')
        cursor.execute(f'ALTER TABLE "{tmp}" RENAME TO "{name}"')
        cursor.execute(f'ALTER TABLE "{tmp}_default" RENAME TO "{name}_default"')
        if table.sequence_column:
            cursor.execute(f'ALTER SEQUENCE "{sequence}" OWNED BY "{name}"."{column}"')
        cursor.execute(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "{pk_name}" PRIMARY KEY ({pk_columns}, "{key}")'
        )
        for conname, contype, definition in constraints:
            if contype in ("u", "f", "c"):
                cursor.execute(f'ALTER TABLE "{name}" ADD CONSTRAINT "{conname}" {definition}')
        for indexname, indexdef in indexes:
            if indexname in constraint_indexes:
                continue
            cursor.execute(indexdef.replace(f" ONLY {name} ", f" {name} "))


def partition_ensure(table: PartitionedTable, day: date) -> bool:
    """Create the partition of ``day`` if it is missing (moving that day's
    rows out of the default partition). Returns True if it was created."""
    partition = _partition_name(table, day)
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partition])
        if cursor.fetchone()[0] is not None:
            return False
        start, end = _bound(table, day), _bound(table, day + timedelta(days=1))
        cursor.execute(
            f'CREATE TABLE "{partition}" (LIKE "{table.table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        moved = (
            f'FROM "{table.table}_default" WHERE "{table.key}" >= {start} AND "{table.key}" < {end}'
        )
        cursor.execute(f'INSERT INTO "{partition}" SELECT * {moved}')
        cursor.execute(f"DELETE {moved}")
        cursor.execute(
            f'ALTER TABLE "{table.table}" ATTACH PARTITION "{partition}" '
            f"FOR VALUES FROM ({start}) TO ({end})"
        )
    return True


def partitions_list(table: PartitionedTable) -> list[tuple[str, date]]:
    prefix = f"{table.table}_p"
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table.table],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            suffix = name[len(prefix) :]
            found.append((name, date(int(suffix[:4]), int(suffix[4:6]), int(suffix[6:]))))
    return sorted(found, key=lambda item: item[1])


def partition_drop(table: PartitionedTable, name: str) -> None:
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table.table}" DETACH PARTITION "{name}"')
        cursor.execute(f'DROP TABLE "{name}"')
