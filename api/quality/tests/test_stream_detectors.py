"""Each sample-driven detector on crafted sample sequences posted through
``/v1/stats`` every 10 s: silent before its threshold and persistence,
raised when they hold (dated from the first bad interval), resolved after
the clearing samples with the duration of the bad intervals, and never
duplicated by a retried sample."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.quality.models import Issue
from api.quality.tests.conftest import StatsScript, issues, run

HEALTHY: dict = {}


# code, what one bad interval looks like, bad samples needed to raise,
# good samples needed to resolve, the type it is raised with.
CASES = [
    # 50 lost of 550 expected = 9.1 % > 3 %, 2 of 3; clears at ≤ 1 % twice.
    ("high_packet_loss", {"audio_in": {"lost": 50}}, 2, 2, "warning"),
    # 50 ms > 30 ms, 2 of 3; clears below 20 ms twice.
    ("high_jitter", {"audio_in": {"jitter": 0.05}}, 2, 2, "warning"),
    # No byte in 10 s (> 5 s) after traffic; one sample with bytes clears.
    ("dry_inbound_track", {"audio_in": {"pps": 0}}, 1, 1, "warning"),
    ("dry_outbound_track", {"audio_out": {"pps": 0}}, 1, 1, "warning"),
    # 2 s frozen in the interval (> 1 s); an interval without freeze clears.
    ("video_freeze", {"video_in": {"freezes": 1, "freeze_s": 2.0}}, 1, 1, "warning"),
    # 5 fps < 7, 2 of 3; clears at ≥ 10 fps twice.
    ("low_frame_rate", {"video_in": {"fps": 5.0}}, 2, 2, "warning"),
    # Half the frames received are decoded (< 0.7).
    ("video_decode_overload", {"video_in": {"decoded_ratio": 0.5}}, 2, 2, "warning"),
    # 1 PLI/s > 0.5.
    ("keyframe_storm", {"video_in": {"pli": 10}}, 2, 2, "warning"),
    # 4 % audible concealment > 3 % (below the 5 % error tier).
    ("audio_concealment", {"audio_in": {"conceal_pct": 4.0}}, 2, 2, "warning"),
    # 12 % of samples stretched > 10 %.
    ("audio_desync", {"audio_in": {"stretch_pct": 12.0}}, 2, 2, "warning"),
    # 8 s of 10 limited by CPU (0.8 > 0.3) / by bandwidth (0.8 > 0.5).
    ("cpu_limited_sending", {"video_out": {"cpu_s": 8.0, "reason": "cpu"}}, 2, 2, "warning"),
    (
        "bandwidth_limited_sending",
        {"video_out": {"bandwidth_s": 8.0, "reason": "bandwidth"}},
        2,
        2,
        "warning",
    ),
    # 500 ms > 400 ms, 2 of 3; clears below 300 ms twice.
    ("high_rtt", {"pair": {"rtt": 0.5}}, 2, 2, "warning"),
    # The pair sends but receives nothing for 10 s (> 5 s).
    ("one_way_media", {"pair": {"received": 0.0}}, 1, 1, "error"),
    ("turn_used", {"pair": {"candidate_type": "relay", "relay_protocol": "udp"}}, 1, 1, "warning"),
    ("tcp_used", {"pair": {"protocol": "tcp"}}, 1, 1, "warning"),
    # RTT 600 ms: d = 300 + 30 + 20 = 350 ms, Id = 8.4 + 18.997 = 27.397,
    # R = 65.8 → MOS 3.38 < 3.6; held 30 s (3 samples); clears at ≥ 3.8.
    ("low_emos", {"pair": {"rtt": 0.6}}, 3, 2, "warning"),
    # RTT 800 ms: d = 450 ms, Id = 10.8 + 30.0 = 40.8, R = 52.4 → MOS 2.71 < 3.1.
    ("very_low_emos", {"pair": {"rtt": 0.8}}, 3, 2, "error"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("code", "bad", "needed", "clearing", "severity"), CASES)
def test_each_detector_raises_after_its_persistence_and_resolves_with_the_bad_duration(
    live, clock, code, bad, needed, clearing, severity
):
    # Given a healthy call with a first sample (rates start with the second)
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    run(caller, connection, script, clock, HEALTHY, HEALTHY)
    first_bad_start = clock.at

    # When the trouble lasts one sample less than the rule needs: nothing
    run(caller, connection, script, clock, *[bad] * (needed - 1))
    assert issues(code) == []

    # Then the sample that completes it raises the issue, dated from the
    # start of the first bad interval
    last_sample = run(caller, connection, script, clock, bad)
    [issue] = issues(code)
    assert issue.resolved_at is None
    assert issue.created_at == first_bad_start
    assert issue.type == severity
    assert issue.subject.startswith(("track:", "connection:"))

    # When the SDK retries the last sample, nothing changes
    caller.stats(connection, last_sample, delta=3000)
    assert Issue.objects.filter(code=code).count() == 1

    # When the trouble stops, it resolves after the clearing samples, at
    # the start of the first good interval
    run(caller, connection, script, clock, *[HEALTHY] * (clearing - 1))
    assert issues(code)[0].resolved_at is None
    run(caller, connection, script, clock, HEALTHY)
    [issue] = issues(code)
    assert issue.duration == needed * 10.0
    assert issue.resolved_at == first_bad_start + timedelta(seconds=needed * 10)
    assert Issue.objects.filter(code=code).count() == 1


# Each detector's value just on the safe side of its threshold.
NEAR_MISSES = {
    "high_packet_loss": {"audio_in": {"lost": 15}},  # 15 / 515 = 2.9 %
    "high_jitter": {"audio_in": {"jitter": 0.029}},
    "dry_inbound_track": {"audio_in": {"pps": 0.5}},  # DTX-like trickle
    "dry_outbound_track": {"audio_out": {"pps": 0.5}},
    "video_freeze": {"video_in": {"freezes": 1, "freeze_s": 0.9}},
    "low_frame_rate": {"video_in": {"fps": 7.5}},
    "video_decode_overload": {"video_in": {"decoded_ratio": 0.75}},
    "keyframe_storm": {"video_in": {"pli": 4}},  # 0.4 PLI/s
    "audio_concealment": {"audio_in": {"conceal_pct": 2.5}},
    "audio_desync": {"audio_in": {"stretch_pct": 8.0}},
    "cpu_limited_sending": {"video_out": {"cpu_s": 2.5}},
    "bandwidth_limited_sending": {"video_out": {"bandwidth_s": 4.5}},
    "high_rtt": {"pair": {"rtt": 0.39}},
    "one_way_media": {"pair": {"received": 0.01}},
    "turn_used": {"pair": {"candidate_type": "srflx"}},
    "tcp_used": {"pair": {"candidate_type": "relay", "relay_protocol": "udp"}},
    # RTT 450 ms: d = 275 ms, Id = 6.6 + 10.757 = 17.357, R = 75.84 → MOS 3.87
    "low_emos": {"pair": {"rtt": 0.45}},
    # RTT 600 ms → MOS 3.38: low, not very low
    "very_low_emos": {"pair": {"rtt": 0.6}},
}


def test_every_sample_detector_has_a_near_miss_case():
    assert set(NEAR_MISSES) == {case[0] for case in CASES}


@pytest.mark.django_db
@pytest.mark.parametrize("code", sorted(NEAR_MISSES))
def test_each_detector_stays_silent_just_below_its_threshold(live, clock, code):
    caller = live.join("u0")
    connection = caller.connect("u1")
    run(caller, connection, StatsScript(), clock, HEALTHY, *[NEAR_MISSES[code]] * 6)
    assert issues(code) == []


@pytest.mark.django_db
def test_a_single_bad_sample_between_good_ones_raises_nothing(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    loss = {"audio_in": {"lost": 50}}
    run(caller, connection, script, clock, HEALTHY, HEALTHY, loss, HEALTHY, HEALTHY, loss, HEALTHY)
    assert Issue.objects.count() == 0


@pytest.mark.django_db
def test_a_value_between_the_clear_and_raise_thresholds_keeps_the_issue_open(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    loss, middling = {"audio_in": {"lost": 50}}, {"audio_in": {"lost": 10}}  # 9.1 %, 2.0 %
    run(caller, connection, script, clock, HEALTHY, loss, loss, middling, middling, middling)
    [issue] = issues("high_packet_loss")
    assert issue.resolved_at is None
    run(caller, connection, script, clock, HEALTHY, HEALTHY)
    assert issues("high_packet_loss")[0].duration == 50.0


@pytest.mark.django_db
def test_packet_loss_escalates_to_an_error_and_keeps_its_peak(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    run(caller, connection, script, clock, HEALTHY, {"audio_in": {"lost": 50}})
    run(caller, connection, script, clock, {"audio_in": {"lost": 50}})
    assert issues("high_packet_loss")[0].type == "warning"

    # 200 lost of 700: 28.6 % > 10 %
    run(caller, connection, script, clock, {"audio_in": {"lost": 200}})

    [issue] = issues("high_packet_loss")
    assert issue.type == "error"
    assert issue.peak_value == pytest.approx(28.571, abs=0.01)


@pytest.mark.django_db
def test_low_mos_gives_way_to_very_low_mos_without_overlap(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    low, very_low = {"pair": {"rtt": 0.6}}, {"pair": {"rtt": 0.8}}
    run(caller, connection, script, clock, HEALTHY, low, low, low)
    [low_issue] = issues("low_emos")
    assert low_issue.resolved_at is None

    run(caller, connection, script, clock, very_low, very_low, very_low)

    [very_low_issue] = issues("very_low_emos")
    [low_issue] = issues("low_emos")
    # The low issue ends where the very low one starts.
    assert low_issue.resolved_at == very_low_issue.created_at
    assert very_low_issue.resolved_at is None

    # And when it gets better but not good, the low issue comes back
    run(caller, connection, script, clock, low, low, low, low, low)
    [_, low_again] = issues("low_emos")
    assert issues("very_low_emos")[0].resolved_at == low_again.created_at


@pytest.mark.django_db
def test_dtx_silence_raises_no_loss_and_no_dry_track(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    silent = {"audio_in": {"pps": 2.5, "bytes_per_packet": 10}}
    run(caller, connection, script, clock, HEALTHY, silent, silent, silent, silent)
    assert Issue.objects.count() == 0


@pytest.mark.django_db
def test_a_lost_process_state_does_not_duplicate_an_open_issue(live, clock):
    # Given an open issue
    from api.quality import state as live_state

    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    loss = {"audio_in": {"lost": 50}}
    run(caller, connection, script, clock, HEALTHY, loss, loss)
    assert len(issues("high_packet_loss")) == 1

    # When the process forgets everything (restart) and the loss goes on
    live_state.STATE.clear()
    run(caller, connection, script, clock, loss, loss, loss)

    # Then the open issue is not duplicated, and still resolves
    assert Issue.objects.filter(code="high_packet_loss").count() == 1
    run(caller, connection, script, clock, HEALTHY, HEALTHY)
    [issue] = issues("high_packet_loss")
    assert issue.resolved_at is not None and issue.resolved_at > issue.created_at


@pytest.mark.django_db
def test_after_a_restart_an_open_issue_resolves_when_its_condition_clears(live, clock):
    # Given an open loss issue (in-process state, the direct sink's default)
    from api.quality import state as live_state

    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    loss = {"audio_in": {"lost": 50}}
    run(caller, connection, script, clock, HEALTHY, loss, loss)
    [issue] = issues("high_packet_loss")
    assert issue.resolved_at is None

    # When the process restarts (forgets everything) and the loss stops
    live_state.STATE.clear()
    run(caller, connection, script, clock, HEALTHY, HEALTHY, HEALTHY)

    # Then the next process read the open issue and resolves it
    [issue] = issues("high_packet_loss")
    assert issue.resolved_at is not None


@pytest.mark.django_db
def test_a_stopped_camera_is_not_a_broken_stream(live, clock):
    # Given two participants sending each other audio and video
    u0, u1 = live.join("u0"), live.join("u1")
    c0, c1 = u0.connect("u1"), u1.connect("u0")
    s0, s1 = StatsScript(), StatsScript()
    for _ in range(2):
        clock.advance(10)
        u0.stats(c0, s0.sample())
        u1.stats(c1, s1.sample())
    u1.event(
        "getUserMedia",
        {"video": [{"id": "local-video-1", "kind": "video"}], "audio": []},
    )

    # When u1 stops its camera (the track ends; nothing flows any more)
    u1.track("PUT", "ended", "local-video-1")
    for _ in range(3):
        clock.advance(10)
        u0.stats(c0, s0.sample(video_in={"pps": 0, "bitrate": 0, "fps": 0}))
        u1.stats(c1, s1.sample(video_out={"pps": 0, "bitrate": 0, "fps": 0}))

    # Then neither side reports stopped media
    assert Issue.objects.count() == 0


@pytest.mark.django_db
def test_video_that_stops_without_its_sender_stopping_it_is_reported(live, clock):
    u0 = live.join("u0")
    c0 = u0.connect("u1")
    script = StatsScript()
    dry = {"video_in": {"pps": 0, "bitrate": 0, "fps": 0}}
    run(u0, c0, script, clock, HEALTHY, HEALTHY, dry)
    [issue] = issues("dry_inbound_track")
    assert issue.track is not None and issue.track.track_id == "remote-video-1"
    assert issue.data["kind"] == "video"


@pytest.mark.django_db
def test_a_threshold_changed_during_a_call_applies_from_the_next_sample(live, clock, settings):
    # Given a call with 2 % loss, below the 3 % that raises high_packet_loss
    caller = live.join("u0")
    connection = caller.connect("u1")
    script = StatsScript()
    middling = {"audio_in": {"lost": 10}}  # 10 / 510 = 2.0 %
    run(caller, connection, script, clock, HEALTHY, middling, middling, middling)
    assert issues("high_packet_loss") == []

    # When the threshold is lowered to 1.5 %
    settings.PEERMETRICS_QUALITY = {"high_packet_loss": {"raise": 1.5}}
    first_bad_start = clock.at
    run(caller, connection, script, clock, middling, middling)

    # Then the samples after the change count as bad (2 of 3 raise)
    [issue] = issues("high_packet_loss")
    assert issue.created_at == first_bad_start
    assert issue.data["threshold"] == 1.5
