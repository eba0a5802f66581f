"""The reason in words of a call's problems: the issues' facts, or the
diagnosis of their cause when there is one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.dashboard.verdicts import IssueFact, call_reason

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _fact(code, who, *, seconds, peak=None, type="warning", unit=None, kind=None):
    return IssueFact(code, type, who, peak, T0, T0 + timedelta(seconds=seconds), unit, kind)


def test_the_reason_says_who_was_affected_how_badly_and_for_how_long():
    issues = [
        _fact("high_packet_loss", "a", seconds=40, peak=9.2, unit="%", kind="audio"),
        _fact("high_packet_loss", "b", seconds=30, peak=7.0, unit="%", kind="audio"),
        _fact("high_packet_loss", "c", seconds=12, peak=3.1, unit="%", kind="audio"),
    ]

    reason = call_reason(issues=issues, participants=4, end=None)

    assert reason == "3 of 4 participants: High packet loss on audio (peak 9.2%) for 40 s"


def test_errors_come_first_and_the_rest_is_counted():
    issues = [
        _fact("high_rtt", "a", seconds=600, peak=420, unit="ms"),
        _fact("ice_failed", "b", seconds=5, type="error"),
        _fact("video_freeze", "a", seconds=3),
    ]

    reason = call_reason(issues=issues, participants=2, end=None)

    assert reason.startswith("1 of 2 participants: Connection could not be established")
    assert "High round-trip time (peak 420 ms) for 10 min" in reason
    assert reason.endswith("and 1 more kind of issue")


def test_a_call_without_issues_has_no_reason():
    assert call_reason(issues=[], participants=3, end=None) == ""


def test_a_diagnosis_speaks_for_its_symptoms():
    # Given alice's uplink diagnosed, bob's and carol's loss and low MOS its symptoms
    cause = IssueFact(
        "uplink_loss",
        "error",
        "alice",
        9.1,
        T0,
        T0 + timedelta(seconds=40),
        summary="alice's uplink lost 9.1 % of packets",
        affected=2,
    )
    symptoms = [
        IssueFact(code, "error", who, 9.1, T0, T0 + timedelta(seconds=40), "%", "audio", "c1")
        for code in ("high_packet_loss", "very_low_emos")
        for who in ("bob", "carol")
    ]

    reason = call_reason(issues=[*symptoms, cause], participants=3, end=None)

    assert reason == "2 of 3 participants: alice's uplink lost 9.1 % of packets for 40 s"
