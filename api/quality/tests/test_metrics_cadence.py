"""Rates over a gap longer than two stats intervals: none for a hole in a
call, but over the stream's own cadence, which a session told a longer
getStatsInterval (budget, overload) has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.ingest.tests.fake_sdk import next_report, stats_report
from api.quality.metrics import sample_extract

INTERVAL_S = 1.0
START = datetime(2026, 12, 7, tzinfo=UTC)


def play(gaps_s: list[float]) -> list[list[float | None]]:
    """Inbound audio bitrates of reports ``gaps_s`` apart (browser clock)."""
    report = stats_report()
    at = START
    previous: dict = {}
    bitrates = []
    for gap in [0.0, *gaps_s]:
        if gap:
            report = next_report(report, seconds=gap)
            at += timedelta(seconds=gap)
        out = sample_extract(
            data=report, at=at, interval_s=INTERVAL_S, previous=previous, track_ids={}
        )
        previous = out.counters
        bitrates.append(
            [s.bitrate for s in out.streams if s.kind == "audio" and s.direction == "inbound"]
        )
    return bitrates


def test_a_stream_at_the_apps_interval_has_rates_from_its_second_sample():
    rates = play([1.0, 1.0])
    assert rates[0] == [None] and all(r[0] is not None for r in rates[1:])


def test_a_hole_in_a_call_gives_no_rates_but_the_next_regular_sample_does():
    rates = play([1.0, 30.0, 1.0])
    assert rates[2] == [None]
    assert rates[3][0] is not None


def test_a_session_told_a_longer_interval_gets_rates_from_its_second_long_gap():
    rates = play([8.0, 8.0, 8.0])
    assert rates[1] == [None]  # a long gap after nothing: could be a hole
    assert rates[2][0] is not None and rates[3][0] is not None


def test_gaps_of_different_lengths_are_not_a_cadence():
    rates = play([8.0, 20.0])
    assert rates[2] == [None]
