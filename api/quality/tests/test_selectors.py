"""Graphs and summaries from the metrics, while the call runs and after it
ended — also when POST_CONFERENCE_CLEANUP deleted the raw samples."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import orjson
import pytest

from api.calls.models import Conference
from api.events.models import StatsSample
from api.quality import selectors
from api.quality.catalogue import issue_catalogue
from api.quality.models import Issue, TrackMetric
from api.quality.tests.conftest import START, StatsScript, run


def _two_party_call(live, clock, *, samples: int = 6, loss_for_u1: int = 0):
    u0, u1 = live.join("u0"), live.join("u1")
    c0, c1 = u0.connect("u1"), u1.connect("u0")
    for peer, connection in ((u0, c0), (u1, c1)):
        clock.advance(1.5)
        peer.event("onconnectionstatechange", "connected", connection_id=connection)
    s0, s1 = StatsScript(), StatsScript()
    for _ in range(samples):
        clock.advance(10)
        u0.stats(c0, s0.sample())
        u1.stats(c1, s1.sample(audio_in={"lost": loss_for_u1}))
    return (u0, c0), (u1, c1)


def _conference() -> Conference:
    return Conference.objects.get()


@pytest.mark.django_db
def test_graphs_of_a_running_conference_have_one_series_per_track(live, clock):
    # Given a two-party call still running, 6 samples per connection
    _two_party_call(live, clock)

    # When its graphs are read
    graphs = selectors.conference_graphs(conference_id=_conference().pk)

    # Then each of the 8 tracks has a series with one point per sample
    assert graphs["ongoing"] is True
    assert graphs["end"] == "2026-11-28T12:01:03Z"  # now
    assert len(graphs["series"]) == 8
    kinds = sorted((s["kind"], s["direction"], s["participant_id"]) for s in graphs["series"])
    assert kinds[0] == ("audio", "inbound", "u0")
    audio_in = next(
        s
        for s in graphs["series"]
        if (s["kind"], s["direction"], s["participant_id"]) == ("audio", "inbound", "u0")
    )
    assert audio_in["peer_id"] == "u1" and audio_in["track_identifier"] == "remote-audio-1"
    assert audio_in["columns"] == ["t", *selectors.GRAPH_COLUMNS[("audio", "inbound")]]
    assert len(audio_in["data"]) == 6
    first, second = audio_in["data"][0], audio_in["data"][1]
    point = dict(zip(audio_in["columns"], second, strict=True))
    assert first[1] is None  # no bitrate on the first sample
    assert point["bitrate"] == 24_000 and point["packet_rate"] == 50.0  # 50 × 60 B × 8
    assert point["mos"] == 4.35 and point["loss_pct"] == 0
    assert second[0] - first[0] == 10_000  # ms
    # and it is JSON as it stands
    assert orjson.loads(orjson.dumps(graphs)) == graphs


@pytest.mark.django_db
def test_graphs_are_downsampled_in_buckets_averaging_their_samples(live, clock):
    _two_party_call(live, clock, samples=7, loss_for_u1=50)
    conference = _conference()

    graphs = selectors.conference_graphs(conference_id=conference.pk, points=3)

    assert graphs["points"] == 3
    for series in graphs["series"]:
        assert len(series["data"]) <= 3
    audio_in = next(
        s
        for s in graphs["series"]
        if (s["kind"], s["direction"], s["participant_id"]) == ("audio", "inbound", "u1")
    )
    lost = [
        dict(zip(audio_in["columns"], p, strict=True))["packets_lost"] for p in audio_in["data"]
    ]
    # counts add up over buckets: 6 intervals of 50 lost
    assert sum(x or 0 for x in lost) == 300


@pytest.mark.django_db
def test_graphs_can_be_read_for_a_time_window(live, clock):
    _two_party_call(live, clock)
    graphs = selectors.conference_graphs(
        conference_id=_conference().pk,
        start=START + timedelta(seconds=30),
        end=START + timedelta(seconds=40),
    )
    for series in graphs["series"]:
        assert len(series["data"]) == 1


@pytest.mark.django_db
def test_graphs_of_an_unknown_conference_raise_does_not_exist(db):
    with pytest.raises(Conference.DoesNotExist):
        selectors.conference_graphs(conference_id="00000000-0000-0000-0000-000000000000")


@pytest.mark.django_db
def test_the_conference_summary_reports_mos_distribution_setup_and_issues(live, clock):
    # Given u1 hears 9 % loss on every interval, u0 a clean line
    _two_party_call(live, clock, samples=6, loss_for_u1=50)

    summary = selectors.conference_quality_summary(conference_id=_conference().pk)

    # 10 intervals with MOS (5 per listener): u0 hears 4.35, u1 hears 9.09 % loss:
    # Ie,eff,WB = 10 + 119 · 9.0909 / 22.0909 = 58.972,
    # R_WB = 129 − 1.29 · 1.68 − 58.972 = 67.861, R = 52.606 → 2.71
    audio = summary["audio"]
    assert audio["samples"] == 10
    assert audio["mos_median"] == pytest.approx((2.71 + 4.35) / 2, abs=0.01)
    assert audio["mos_p5"] == 2.71
    # u1's 5 intervals of 10 s are below 3.6
    assert audio["minutes_below_threshold"] == pytest.approx(50 / 60, abs=0.01)
    # Both connections were added at 0 s and connected at 1.5 s and 3 s.
    assert summary["setup_time_ms"] == {"median": 2250.0, "max": 3000.0, "connections": 2}
    # the detectors' two issues, and their cause (loss from u0 to u1)
    assert summary["issues"]["by_code"] == {
        "high_packet_loss": 1,
        "path_loss": 1,
        "very_low_emos": 1,
    }
    assert summary["issues"]["open"] == 3
    # the cause and what it did, for the call and for the one who suffered
    [cause] = summary["issues"]["causes"]
    assert cause["code"] == "path_loss"
    assert cause["did"] == ["high_packet_loss", "very_low_emos"]
    assert cause["summary"].startswith("9.1 % of packets from u0 to u1 were lost")
    by_participant = {p["participant"]: p for p in summary["participants"]}
    assert len(by_participant) == 2
    assert sorted(len(p["issues"]["causes"]) for p in by_participant.values()) == [0, 1]
    assert sorted(p["audio"]["mos_median"] for p in by_participant.values()) == [2.71, 4.35]
    assert orjson.loads(orjson.dumps(summary)) == summary


@pytest.mark.django_db
def test_summaries_give_loss_rtt_and_jitter_percentiles_and_time_above_threshold(live, clock):
    # Given u1 hears 9.09 % audio loss for 5 intervals of 10 s, u0 nothing
    (_, c0), (_, c1) = _two_party_call(live, clock, samples=6, loss_for_u1=50)

    conference = selectors.conference_quality_summary(conference_id=_conference().pk)
    connection = selectors.connection_quality_summary(connection_id=c1)

    # The call: 4 incoming streams x 5 intervals, a quarter of the time above 3 %
    loss = conference["network"]["loss_pct"]
    assert loss["samples"] == 20 and loss["threshold"] == 3.0
    assert loss["p50"] == 0.0 and loss["p95"] == pytest.approx(9.09, abs=0.01)
    assert loss["share_above"] == 0.25
    rtt, jitter = conference["network"]["rtt_ms"], conference["network"]["jitter_ms"]
    assert rtt["p50"] == rtt["p95"] == 40.0 and rtt["share_above"] == 0.0
    # jitter of incoming audio only (2 ms), the 30 ms threshold never passed
    assert jitter["samples"] == 10 and jitter["p95"] == 2.0 and jitter["share_above"] == 0.0
    # u1's connection: its audio was above the threshold half of the time
    assert connection["network"]["loss_pct"]["share_above"] == 0.5


@pytest.mark.django_db
def test_participant_and_connection_summaries(live, clock):
    # 2 intervals of loss: high_packet_loss (2 of 3), not yet 30 s of low MOS
    (_, c0), (_, c1) = _two_party_call(live, clock, samples=3, loss_for_u1=50)
    conference = _conference()
    u1 = conference.connections.get(pk=c1).participant_id

    participant = selectors.participant_quality_summary(
        conference_id=conference.pk, participant_id=u1
    )
    connection = selectors.connection_quality_summary(connection_id=c0)

    assert participant["audio"]["mos_median"] == 2.71
    assert participant["issues"]["by_code"] == {"high_packet_loss": 1}
    assert connection["audio"]["mos_median"] == 4.35
    assert connection["issues"]["total"] == 0
    assert connection["setup_time_ms"]["connections"] == 1


@pytest.mark.django_db
def test_issues_are_shown_with_their_catalogue_title_and_interval(live, clock):
    _two_party_call(live, clock, samples=3, loss_for_u1=50)
    by_code = {i["code"]: i for i in selectors.conference_issues(conference_id=_conference().pk)}
    issue, cause = by_code.pop("high_packet_loss"), by_code.pop("path_loss")
    assert by_code == {}
    assert issue["code"] == "high_packet_loss"
    # its diagnosis: the primary issue, which it points at
    assert cause["code"] == "path_loss" and cause["cause"] is None
    assert issue["cause"] == cause["id"]
    assert cause["data"]["summary"].startswith("9.1 % of packets from u0 to u1 were lost")
    assert issue["title"] == "High packet loss"
    assert issue["duration"] is None and issue["resolved_at"] is None
    assert issue["created_at"].endswith("Z")


def test_the_catalogue_keeps_the_original_codes_and_titles_and_has_25_or_more():
    catalogue = issue_catalogue()
    original = {
        "no_media_access": ("error", "Could not access any media device"),
        "ice_failed": ("error", "Connection could not be established"),
        "no_connection": ("error", "The participant could not establish a connection"),
        "very_low_emos": (
            "error",
            "The participant had a very bad experience during the conference",
        ),
        "getusermedia_error": ("warning", "Problem accessing media"),
        "icecandidateerror": ("warning", "ICE candidate error"),
        "connection_disconnected": ("warning", "Connection disconnected"),
        "connection_failed": ("error", "Connection failed"),
        "multiple_rejoins": ("warning", "Multiple rejoins"),
        "tcp_used": ("warning", "Media sent over TCP"),
        "turn_used": ("warning", "Connection relayed through a TURN server"),
        "low_emos": ("warning", "Participant had a less than ideal experience"),
    }
    for code, (type_, title) in original.items():
        assert (catalogue[code]["type"], catalogue[code]["title"]) == (type_, title)
    assert len(catalogue) >= 25
    assert all(entry["source"] and entry["explanation"] for entry in catalogue.values())


@pytest.mark.django_db(transaction=True)
def test_post_conference_cleanup_deletes_raw_samples_and_keeps_metrics_and_issues(
    live, clock, settings
):
    # Given cleanup on, and a call with an issue
    settings.CONFIG = replace(settings.CONFIG, post_conference_cleanup=True)
    (u0, _), (u1, _) = _two_party_call(live, clock, samples=5, loss_for_u1=50)
    conference = _conference()
    metrics_before = TrackMetric.objects.count()
    summary_before = selectors.conference_quality_summary(conference_id=conference.pk)
    graphs_before = selectors.conference_graphs(
        conference_id=conference.pk, end=clock.at + timedelta(seconds=1)
    )
    assert StatsSample.objects.count() == 10

    # When the call ends
    clock.advance(1)
    u0.event("endCall")
    u1.event("endCall")

    # Then the raw samples are gone and everything computed from them stays
    assert StatsSample.objects.count() == 0
    assert TrackMetric.objects.count() == metrics_before
    assert Issue.objects.count() == 3  # two detectors' issues and their cause
    assert Issue.objects.filter(resolved_at__isnull=True).count() == 0
    summary_after = selectors.conference_quality_summary(conference_id=conference.pk)
    assert summary_after["audio"] == summary_before["audio"]
    assert summary_after["issues"]["by_code"] == summary_before["issues"]["by_code"]
    graphs_after = selectors.conference_graphs(
        conference_id=conference.pk, start=START, end=clock.at
    )
    assert [s["data"] for s in graphs_after["series"]] == [
        s["data"] for s in graphs_before["series"]
    ]

    # And a participant rejoining and leaving again (the conference ends a
    # second time) loses nothing either
    clock.advance(60)
    again = live.join("u0")
    connection = again.connect("u1")
    run(again, connection, StatsScript(), clock, {}, {})
    again.event("endCall")
    assert TrackMetric.objects.count() == metrics_before + 8
    assert Issue.objects.filter(code="high_packet_loss").count() == 1


def test_the_quality_docs_list_every_issue_code():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "quality.md").read_text()
    missing = [code for code in issue_catalogue() if f"| `{code}` |" not in docs]
    assert missing == []
