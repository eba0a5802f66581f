"""An imported sample is analysed exactly as the same report sent by the
SDK: the reports an import stored for one connection, posted to
``/v1/stats`` of a live call at the same moments, give the same metric
rows."""

from __future__ import annotations

import pytest
from django.test import TestCase

from api.calls.models import Connection
from api.events.models import StatsSample
from api.interop.importer import dump_import
from api.interop.tests.conftest import DUMPS
from api.quality.models import TrackMetric

COMPARED = (
    "kind",
    "direction",
    "interval_s",
    "bitrate",
    "packets",
    "packets_lost",
    "loss_pct",
    "jitter_ms",
    "rtt_ms",
    "jitter_buffer_ms",
    "fps",
    "concealment_pct",
    "mos",
)


def _rows(connection_id) -> list[tuple]:
    return list(
        TrackMetric.objects.filter(connection_id=connection_id)
        .order_by("created_at", "kind", "direction")
        .values_list("created_at", *COMPARED)
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "dump", ["call2p-30s-loss10.rtcstats_dump.gz", "call2p-30s-delay150.webrtc_internals_dump.txt"]
)
def test_an_imported_connection_has_the_metrics_of_the_same_reports_sent_live(
    app, page, clock, dump
):
    with TestCase.captureOnCommitCallbacks(execute=True):
        summary = dump_import(app=app, raw=(DUMPS / dump).read_bytes(), filename=dump)
    imported = Connection.objects.filter(conference_id=summary.conference).order_by("start_time")[0]
    samples = list(StatsSample.objects.filter(connection=imported).order_by("created_at"))
    assert len(samples) >= 3

    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    for sample in samples:
        clock.set(sample.created_at)
        assert alice.stats(link, sample.data).status == 200

    imported_rows, live_rows = _rows(imported.pk), _rows(link.connection_id)
    assert imported_rows == live_rows
    assert any(row[7] is not None for row in imported_rows)  # loss computed, not all empty
