"""What the stats hook keeps between samples of a connection."""

from __future__ import annotations

import uuid

import pytest

from api.quality import state as live_state
from api.quality.tests.conftest import StatsScript


@pytest.mark.django_db
def test_the_counters_of_streams_that_left_the_report_are_forgotten(live, clock):
    # Given a connection whose inbound streams get new stats ids with
    # every sample (a renegotiation each time)
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    kept = []
    for n in range(20):
        clock.advance(10)
        data = script.sample()
        for section in ("audio", "video"):
            for report in data[section]["inbound"]:
                report["id"] = f"{report['id']}-{n}"
        caller.stats(connection, data)
        kept.append(set(live_state.STATE.connection_peek(uuid.UUID(connection)).counters))

    # Then they grow until there are more than twice the live ones (16 at
    # least), and are then cut back to the live ones: the 4 streams, the
    # pair and the remote report of the audio sent
    assert [len(keys) for keys in kept] == [6, 8, 10, 12, 14, 16] * 3 + [6, 8]
    assert kept[-2] == {"IT01A1-18", "IT01V1-18", "OT01A1", "OT01V1", "pair:CP1", "remote:RIA1"}
