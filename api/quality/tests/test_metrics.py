"""Metric extraction from SDK stats samples: interval deltas, units, and
the first-sample / gap / reset / late-report rules."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from api.quality.metrics import sample_extract
from api.quality.tests.conftest import START, StatsScript

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _extract(data, previous=None, *, at=START, interval_s=10.0):
    return sample_extract(
        data=data, at=at, interval_s=interval_s, previous=previous or {}, track_ids={}
    )


def _by_id(extraction):
    return {s.stats_id: s for s in extraction.streams}


def test_the_first_sample_of_a_stream_has_values_but_no_rates():
    # Given a connection's first sample
    first = _extract(StatsScript().sample())

    # Then instantaneous values are there and rates are not
    audio = _by_id(first)["IT01A1"]
    assert audio.interval_s is None and audio.bitrate is None and audio.loss_pct is None
    assert audio.jitter_ms == 2.0 and audio.rtt_ms == 40.0
    assert audio.mos is None
    video = _by_id(first)["IT01V1"]
    assert (video.width, video.height, video.fps) == (1280, 720, 30.0)


def test_rates_come_from_the_delta_against_the_previous_sample_of_the_same_id():
    # Given two samples 10 s apart of a healthy call
    script = StatsScript()
    first = _extract(script.sample())
    second = _by_id(_extract(script.sample(), first.counters))

    # Then every stream has per-interval values in the documented units
    audio = second["IT01A1"]
    assert audio.interval_s == 10.0
    assert audio.packets == 500 and audio.packet_rate == 50.0
    assert audio.bitrate == 500 * 60 * 8 / 10  # bit/s
    assert audio.loss_pct == 0.0 and audio.packets_lost == 0
    assert audio.jitter_buffer_ms == pytest.approx(30.0)
    assert audio.concealment_pct == 0.0
    # d = 40/2 + 30 + 20 = 70 ms, no loss: R_WB = 129 − 1.29 · 1.68 − 10
    # = 116.8328, R = 90.568 → 4.35
    assert audio.mos == 4.35
    video = second["IT01V1"]
    assert video.bitrate == pytest.approx(1_200_000)
    assert video.fps == 30.0 and video.freeze_count == 0 and video.freeze_ms == 0.0
    # bpppf = 1.2e6 / 921600 / 30 = 0.0434 → 0.56 · ln(0.0434) + 5.36 = 3.6032,
    # − 0.002 · (40/2 + 40 ms buffer) = 3.4832
    assert video.video_score == 3.48
    sent = second["OT01V1"]
    assert sent.fps == 30.0 and sent.limitation == "none"
    assert sent.cpu_share == 0.0 and sent.bandwidth_share == 0.0
    assert second["OT01A1"].rtt_ms == 40.0  # from remote-inbound-rtp


def test_loss_is_in_percent_of_the_packets_expected_in_the_interval():
    script = StatsScript(streams=("audio_in",))
    first = _extract(script.sample())
    audio = _by_id(_extract(script.sample(audio_in={"lost": 50}), first.counters))["IT01A1"]
    # 50 lost of 500 + 50 expected
    assert audio.packets_lost == 50
    assert audio.loss_pct == pytest.approx(100 * 50 / 550, abs=0.001)


def test_audible_concealment_excludes_silent_concealment():
    script = StatsScript(streams=("audio_in",))
    first = _extract(script.sample())
    audio = _by_id(
        _extract(script.sample(audio_in={"conceal_pct": 4.0, "silent_pct": 10.0}), first.counters)
    )["IT01A1"]
    assert audio.concealment_pct == pytest.approx(4.0)


def test_a_gap_longer_than_twice_the_interval_counts_as_a_first_sample():
    # Given a sample, then the next one 25 s later with a 10 s interval
    script = StatsScript(streams=("audio_in",))
    first = _extract(script.sample())
    later = _extract(script.sample(25), first.counters)

    # Then no rates are computed over the gap
    stream = _by_id(later)["IT01A1"]
    assert stream.interval_s is None and stream.bitrate is None and stream.mos is None
    # but its counters are the base of the next sample
    after = _by_id(_extract(script.sample(10), later.counters))["IT01A1"]
    assert after.interval_s == 10.0 and after.packets == 500


def test_a_counter_reset_gives_no_rates_and_becomes_the_new_base():
    script = StatsScript(streams=("audio_in",))
    first = _extract(script.sample())
    reset = script.sample()
    reset["audio"]["inbound"][0]["packetsReceived"] = 10
    reset["audio"]["inbound"][0]["bytesReceived"] = 600
    after_reset = _extract(reset, first.counters)
    assert _by_id(after_reset)["IT01A1"].bitrate is None
    assert after_reset.counters["IT01A1"]["packets"] == 10


def test_a_late_report_older_than_the_last_one_does_not_replace_its_counters():
    script = StatsScript(streams=("audio_in",))
    old = script.sample()
    new = script.sample()
    current = _extract(new, _extract(old).counters)

    late = _extract(old, current.counters)

    assert _by_id(late)["IT01A1"].interval_s is None
    assert late.counters["IT01A1"] == current.counters["IT01A1"]


def test_cpu_and_bandwidth_limitation_are_shares_of_the_interval():
    script = StatsScript(streams=("video_out",))
    first = _extract(script.sample())
    sent = _by_id(
        _extract(
            script.sample(video_out={"cpu_s": 4.0, "bandwidth_s": 1.0, "reason": "cpu"}),
            first.counters,
        )
    )["OT01V1"]
    assert sent.cpu_share == pytest.approx(0.4) and sent.bandwidth_share == pytest.approx(0.1)
    assert sent.limitation == "cpu"


def test_malformed_reports_are_skipped_not_fatal():
    data = {
        "audio": {"inbound": ["junk", {"id": 5}, {"id": "X", "packetsReceived": "many"}]},
        "video": [],
        "connection": {"inbound": [], "outbound": []},
        "remote": None,
    }
    extraction = _extract(data)
    assert [s.stats_id for s in extraction.streams] == ["X"]
    assert extraction.pair is None


def _dump_samples(scenario: str, step: int):
    dump = json.loads((FIXTURES / f"dump-{scenario}.json").read_text())
    for samples in dump["connections"].values():
        counters: dict = {}
        out = []
        for i, data in enumerate(samples[::step]):
            at = START + timedelta(seconds=i * step)
            extraction = _extract(data, counters, at=at, interval_s=step)
            counters = extraction.counters
            out.append(extraction)
        yield out


@pytest.mark.parametrize(
    ("scenario", "loss", "rtt", "mos_range"),
    [
        # Real Chrome calls (fixtures/dumps), 2 s samples.
        ("clean", (0.0, 0.5), (0.0, 5.0), (4.3, 4.45)),
        # netem loss 10 % each way; once Opus FEC is on, 4–8 % of the samples
        # are still concealed: Ppl ≈ 6 → MOS ≈ 3.1–3.6.
        ("loss10", (5.0, 16.0), (0.0, 5.0), (2.4, 3.6)),
        # netem delay 150 ms each way: RTT ≈ 300 ms, d ≈ 150 + buffer + 20 ≈ 200 ms
        # → Id ≈ 7.3, R ≈ 85, MOS ≈ 4.2.
        ("delay150", (0.0, 0.5), (290.0, 320.0), (4.0, 4.3)),
    ],
)
def test_captured_chrome_calls_give_sensible_loss_rtt_and_mos(scenario, loss, rtt, mos_range):
    for extractions in _dump_samples(scenario, step=2):
        audio = [
            s
            for x in extractions[2:-2]
            for s in x.streams
            if s.kind == "audio" and s.mos is not None
        ]
        assert audio
        average_loss = sum(s.loss_pct for s in audio) / len(audio)
        assert loss[0] <= average_loss <= loss[1], (scenario, average_loss)
        rtts = [x.pair.rtt_ms for x in extractions if x.pair and x.pair.rtt_ms is not None]
        assert rtt[0] <= sum(rtts) / len(rtts) <= rtt[1]
        median = sorted(s.mos for s in audio)[len(audio) // 2]
        assert mos_range[0] <= median <= mos_range[1], (scenario, median)
