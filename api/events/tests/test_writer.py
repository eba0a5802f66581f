"""The hot-path writer: a few rows and a whole batch (PostgreSQL sends a
batch as column arrays) store the same values, and retried or redelivered
samples are skipped in either form."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from api.calls.models import Connection
from api.events.models import StatsSample
from api.events.writer import COPY_FROM_ROWS, SampleRow, rows_insert, sample_prepare, samples_insert
from api.quality.analysis import METRIC_COLUMNS
from api.quality.models import TrackMetric

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(page) -> Connection:
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    return Connection.objects.get(pk=link.connection_id)


def _samples(connection: Connection, clock, count: int) -> list:
    row = SampleRow(
        app_id=connection.app_id,
        conference_id=connection.conference_id,
        connection_id=connection.pk,
        created_at=clock.now,
    )
    return [
        sample_prepare(row=row, raw_report=orjson.dumps({"tick": tick, "x": "é" * tick}))
        for tick in range(count)
    ]


@pytest.mark.parametrize("count", [3, COPY_FROM_ROWS + 8])
def test_samples_are_stored_once_few_or_batched(connection, clock, count):
    samples = _samples(connection, clock, count)
    # A retry of the first (another id, the same report) rides in the batch.
    retry = _samples(connection, clock, 1)[0]

    stored = samples_insert([*samples, retry])

    assert stored == {s.id for s in samples}
    rows = {s.pk: s for s in StatsSample.objects.all()}
    assert len(rows) == count
    for sample in samples:
        assert bytes(rows[sample.id].raw) == sample.stored
        assert bytes(rows[sample.id].digest) == sample.digest
        assert rows[sample.id].created_at == clock.now
    # Redelivered: nothing new.
    assert samples_insert(samples) == set()


@pytest.mark.parametrize("count", [4, COPY_FROM_ROWS + 8])
def test_metric_rows_keep_every_value_and_null_few_or_batched(connection, clock, count):
    def row(i: int) -> tuple:
        values = {
            "connection_id": connection.pk,
            "track_id": None,
            "created_at": clock.now + timedelta(milliseconds=i),
            "kind": "audio" if i % 2 else "video",
            "direction": "inbound",
            "packets": i,
            "loss_pct": None if i % 3 else i / 4,
            "width": 640 if i % 2 else None,
            "limitation": None if i % 2 else "bandwidth",
            "mos": 4.25,
        }
        return tuple(values.get(column) for column in METRIC_COLUMNS)

    rows_insert(model=TrackMetric, columns=METRIC_COLUMNS, rows=[row(i) for i in range(count)])

    stored = list(TrackMetric.objects.order_by("packets").values_list(*METRIC_COLUMNS))
    assert stored == [row(i) for i in range(count)]
