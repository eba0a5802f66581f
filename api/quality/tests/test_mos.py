"""The E-model MOS against values computed by hand, and the video score.

Common arithmetic: MOS(R) = 1 + 0.035·R + 7e-6·R·(R − 60)·(100 − R).
Unless stated, the one-way delay is d = RTT/2 + jitter buffer + 20 ms
= 40/2 + 20 + 20 = 60 ms → Id = 0.024 · 60 = 1.44 (below 177.3 ms, no
second term); Opus Ie = 0, Bpl = 10 (no FEC).
"""

from __future__ import annotations

import pytest

from api.quality import mos
from api.quality.metrics import sample_extract
from api.quality.tests.conftest import START, StatsScript

RTT, JB = 40.0, 20.0  # d = 60 ms


def test_a_clean_call_scores_4_38():
    # Ie,eff = 0; R = 93.2 − 1.44 − 0 = 91.76
    # MOS = 1 + 3.2116 + 7e-6 · 91.76 · 31.76 · 8.24 = 4.2116 + 0.1681 = 4.3797
    assert mos.audio_mos(loss_pct=0, rtt_ms=RTT, jitter_buffer_ms=JB) == 4.38


def test_one_percent_loss_scores_4_14():
    # Ie,eff = 95 · 1 / (1 + 10) = 8.6364; R = 93.2 − 1.44 − 8.6364 = 83.1236
    # MOS = 1 + 2.9093 + 7e-6 · 83.1236 · 23.1236 · 16.8764 = 3.9093 + 0.2271 = 4.1364
    assert mos.audio_mos(loss_pct=1, rtt_ms=RTT, jitter_buffer_ms=JB) == 4.14


def test_five_percent_loss_scores_about_3_1_not_4_3():
    # Ie,eff = 95 · 5 / (5 + 10) = 31.6667; R = 93.2 − 1.44 − 31.6667 = 60.0933
    # MOS = 1 + 2.1033 + 7e-6 · 60.0933 · 0.0933 · 39.9067 = 3.1033 + 0.0016 = 3.1048
    assert mos.audio_mos(loss_pct=5, rtt_ms=RTT, jitter_buffer_ms=JB) == 3.10
    # The original passed the loss as a fraction (0.05): Ie,eff = 95 · 0.05 / 10.05
    # = 0.4726, R = 91.2874, MOS 4.37 — the bug this replaces.
    assert round(mos.mos_from_r(mos.r_factor(loss_pct=0.05, one_way_delay_ms=60)), 2) == 4.37


def test_twenty_percent_loss_scores_1_55():
    # Ie,eff = 95 · 20 / (20 + 10) = 63.3333; R = 93.2 − 1.44 − 63.3333 = 28.4267
    # MOS = 1 + 0.9949 + 7e-6 · 28.4267 · (−31.5733) · 71.5733 = 1.9949 − 0.4497 = 1.5453
    assert mos.audio_mos(loss_pct=20, rtt_ms=RTT, jitter_buffer_ms=JB) == 1.55


def test_300_ms_one_way_delay_scores_3_71():
    # Id = 0.024 · 300 + 0.11 · (300 − 177.3) = 7.2 + 13.497 = 20.697
    # R = 93.2 − 20.697 = 72.503
    # MOS = 1 + 2.5376 + 7e-6 · 72.503 · 12.503 · 27.497 = 3.5376 + 0.1745 = 3.7121
    assert round(mos.mos_from_r(mos.r_factor(loss_pct=0, one_way_delay_ms=300)), 2) == 3.71
    # The same delay from stats: RTT 560 ms, jitter buffer 0: 280 + 0 + 20 = 300 ms.
    assert mos.audio_mos(loss_pct=0, rtt_ms=560, jitter_buffer_ms=0) == 3.71


def test_in_band_fec_makes_loss_cost_less():
    # Bpl = 20: Ie,eff = 95 · 5 / 25 = 19; R = 93.2 − 1.44 − 19 = 72.76
    # MOS = 1 + 2.5466 + 7e-6 · 72.76 · 12.76 · 27.24 = 3.5466 + 0.1770 = 3.7236
    assert mos.audio_mos(loss_pct=5, rtt_ms=RTT, jitter_buffer_ms=JB, fec=True) == 3.72


def test_the_r_to_mos_mapping_is_clamped():
    assert mos.mos_from_r(-5) == 1.0
    assert mos.mos_from_r(0) == 1.0
    assert mos.mos_from_r(100) == 4.5
    assert mos.mos_from_r(120) == 4.5


def _audio_mos_of(script_changes: dict) -> float | None:
    script = StatsScript(streams=("audio_in",))
    first = sample_extract(
        data=script.sample(10, audio_in=script_changes),
        at=START,
        interval_s=10,
        previous={},
        track_ids={},
    )
    second = sample_extract(
        data=script.sample(10, audio_in=script_changes),
        at=START,
        interval_s=10,
        previous=first.counters,
        track_ids={},
    )
    return second.streams[0].mos


def test_dtx_silence_is_not_loss():
    # A silent speaker with DTX sends ~2.5 packets/s instead of 50 and a few
    # kbit/s. Nothing is lost (packetsLost does not move), the jitter buffer
    # and RTT are the same as while talking: the score must be the same.
    # d = 40/2 + 30 + 20 = 70 ms → Id = 1.68; R = 91.52; MOS = 4.3747 → 4.37
    talking = _audio_mos_of({"pps": 50.0, "bytes_per_packet": 80})
    silent = _audio_mos_of({"pps": 2.5, "bytes_per_packet": 10})
    assert talking == silent == 4.37


def test_real_loss_during_dtx_still_counts():
    # 25 packets received and 25 lost in 10 s: 50 % loss.
    # Ie,eff = 95 · 50 / 60 = 79.1667; R = 93.2 − 1.68 − 79.1667 = 12.3533
    # MOS = 1 + 0.4324 + 7e-6 · 12.3533 · (−47.6467) · 87.6467 = 1.4324 − 0.3611 = 1.0713
    assert _audio_mos_of({"pps": 2.5, "lost": 25}) == 1.07


def test_the_video_score_follows_bits_per_pixel_and_frame_rate():
    # 1.2 Mbit/s, 1280x720 at 30 fps: bpppf = 1.2e6 / 921600 / 30 = 0.0434
    # base = 0.56 · ln(0.0434) + 5.36 = 0.56 · (−3.1372) + 5.36 = 3.6032
    assert mos.video_score(
        bitrate=1.2e6, width=1280, height=720, fps=30, expected_fps=30
    ) == pytest.approx(3.60, abs=0.01)
    # Half the frame rate it had: − 1.9 · ln 2 = − 1.3170, and bpppf doubles:
    # + 0.56 · ln 2 = + 0.3882 → 3.6032 + 0.3882 − 1.3170 = 2.6744
    assert mos.video_score(
        bitrate=1.2e6, width=1280, height=720, fps=15, expected_fps=30
    ) == pytest.approx(2.67, abs=0.01)
    assert mos.video_score(bitrate=0, width=1280, height=720, fps=30, expected_fps=30) is None
