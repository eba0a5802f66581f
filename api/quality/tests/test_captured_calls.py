"""The two calls captured from the real SDK, replayed: the metrics they
produce and the issues they raise — none that the scenario did not cause —
and the SQL budget of a stats sample."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from api.ingest.tests.test_replay_captured_calls import replay
from api.quality.models import Issue, TrackMetric
from api.quality.tests.conftest import START, StatsScript

FIXTURES = Path(__file__).resolve().parent / "fixtures"


# Real commits: session and conference ends reach quality after commit.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "samples"), [("call-2-participants.json", 8), ("call-3-participants.json", 24)]
)
def test_a_captured_call_raises_no_issue_it_did_not_cause(
    sdk, app, monkeypatch, captured_call, name, samples
):
    # Given the real call (a mute, a custom event, a participant stopping
    # its camera; the 3-participant one ends with closes and unloads)
    call = captured_call(name)

    replay(sdk, monkeypatch, call)

    # Then every track of every sample has a metric row (4 per sample)
    assert TrackMetric.objects.count() == samples * 4
    assert TrackMetric.objects.filter(track__isnull=True).count() == 0
    audio = TrackMetric.objects.filter(kind="audio", direction="inbound", mos__isnull=False)
    # Loopback, no loss: 50 packets/s, MOS at the narrowband ceiling
    assert audio.count() == samples - len(call["participants"]) * (len(call["participants"]) - 1)
    assert all(4.3 <= m.mos <= 4.41 for m in audio)
    assert all(m.loss_pct == 0 and 45 <= m.packet_rate <= 55 for m in audio)
    # And no issue: the stopped camera is recognised from the track's
    # ended event on the sender's side and on its peers' side.
    assert list(Issue.objects.values_list("code", "subject")) == []


@pytest.mark.django_db(transaction=True)
def test_a_captured_call_with_a_lost_ended_event_reports_the_stopped_camera_on_each_side(
    sdk, app, monkeypatch, captured_call
):
    # Given the two-participant call without the track "ended" request
    call = captured_call("call-2-participants.json")
    call["requests"] = [r for r in call["requests"] if r["body"].get("event") != "ended"]

    replay(sdk, monkeypatch, call)

    # Then the receiver of the stopped camera sees its video stop (one
    # issue), and the sender's own side, which knows nothing, one more.
    codes = sorted(Issue.objects.values_list("code", flat=True))
    assert codes == ["dry_inbound_track", "dry_outbound_track"]
    assert set(Issue.objects.values_list("data__kind", flat=True)) == {"video"}


@pytest.mark.django_db
def test_a_steady_state_stats_sample_costs_two_or_three_sql_statements(live, clock):
    # Given a connection whose tracks are known (two samples in)
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    for _ in range(2):
        clock.advance(10)
        caller.stats(connection, script.sample())

    # When the next sample arrives
    clock.advance(10)
    data = script.sample()
    with CaptureQueriesContext(db) as queries:
        caller.stats(connection, data)

    # Then: read the connection, insert the sample and the metric rows (in
    # one statement on PostgreSQL, two on SQLite)
    statements = [q["sql"] for q in queries.captured_queries]
    assert statements[0].startswith("SELECT") and "calls_connection" in statements[0]
    if db.vendor == "postgresql":
        assert len(statements) == 2, statements
        assert statements[1].startswith('WITH s AS (INSERT INTO "events_statssample"')
        assert 'm AS (INSERT INTO "quality_trackmetric"' in statements[1]
    else:
        assert len(statements) == 3, statements
        assert "quality_trackmetric" in statements[2] and statements[2].startswith("INSERT")
    assert TrackMetric.objects.filter(created_at=clock.at).count() == 4


def _dump_issue_codes(sdk, live, clock, scenario: str) -> list[tuple[str, str]]:
    dump = json.loads((FIXTURES / f"dump-{scenario}.json").read_text())
    peers = {}
    for index, pc in enumerate(dump["connections"]):
        peer = live.join(f"u{index}")
        peers[pc] = (peer, peer.connect(f"u{1 - index}"))
    for tick in range(0, 30, 2):
        clock.at = START + timedelta(seconds=tick)
        for pc, samples in dump["connections"].items():
            peer, connection = peers[pc]
            peer.stats(connection, samples[tick])
    return sorted(Issue.objects.values_list("code", "data__kind"))


@pytest.mark.django_db
def test_ten_percent_loss_raises_loss_concealment_and_low_mos(sdk, live, clock, app, settings):
    # Given the real 10 % loss call (2 s samples), with the app's interval
    app.interval = 2000
    app.save()
    # Only 28 s of media: hold low MOS for 10 s instead of 30.
    settings.PEERMETRICS_QUALITY = {
        "low_emos": {"min_seconds": 10},
        "very_low_emos": {"min_seconds": 10},
    }

    codes = _dump_issue_codes(sdk, live, clock, "loss10")

    # Then each receiver has high packet loss on audio and video, audible
    # concealment and a low MOS; the stopped camera (no events in a dump)
    # shows as a stopped incoming video.
    codes_only = {code for code, _ in codes}
    assert {"high_packet_loss", "audio_concealment"} <= codes_only
    assert codes_only & {"low_emos", "very_low_emos"}
    assert ("high_packet_loss", "audio") in codes and ("high_packet_loss", "video") in codes
    assert not codes_only & {"high_rtt", "high_jitter", "one_way_media"}


@pytest.mark.django_db
def test_150_ms_delay_is_no_issue_below_the_rtt_threshold(sdk, live, clock, app):
    # Given the real call with 150 ms delay each way (RTT 300 ms < 400 ms)
    app.interval = 2000
    app.save()

    codes = _dump_issue_codes(sdk, live, clock, "delay150")

    # Then only the stopped camera (no events in a dump) is reported
    assert codes == [("dry_inbound_track", "video")]
    mos = TrackMetric.objects.filter(mos__isnull=False).values_list("mos", flat=True)
    assert all(4.1 <= m <= 4.3 for m in mos)


@pytest.mark.django_db
def test_absurd_counters_are_dropped_not_a_server_error(live, clock):
    # Given a healthy first sample
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    clock.advance(10)
    caller.stats(connection, script.sample())

    # When a report's counters jump to values no column can hold
    clock.advance(10)
    data = script.sample()
    audio = data["audio"]["inbound"][0]
    audio["packetsReceived"] = 10**18
    audio["bytesReceived"] = 1e300
    audio["jitter"] = 1e200
    data["video"]["inbound"][0]["frameWidth"] = 10**9
    response = caller.stats(connection, data)

    # Then the sample is stored and its metrics keep what fits
    assert response.status == 200
    row = TrackMetric.objects.get(created_at=clock.at, kind="audio", direction="inbound")
    assert row.packets is None and row.bitrate is None and row.jitter_ms is None
    video = TrackMetric.objects.get(created_at=clock.at, kind="video", direction="inbound")
    assert video.width is None and video.bitrate is not None
