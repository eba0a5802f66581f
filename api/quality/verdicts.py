"""A verdict per call and per participant, in plain words, built from the
diagnoses (:mod:`api.quality.diagnosis`): "Good call", or "Poor audio for
Bob and Carol for 40 s: Alice's uplink lost 9 % of packets".

:func:`conference_verdict` is the one entry point (the conference API and
the dashboard call it). Three queries: the conference's primary issues,
their symptoms' kinds, the participants' names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.calls.models import Participant
from api.common import time as clock
from api.quality.catalogue import CATALOGUE
from api.quality.diagnosis import CAUSE_CODES
from api.quality.models import Issue

GOOD = "good"
FAIR = "fair"
POOR = "poor"

# Primary issues that are not about the media a participant got: they do
# not make a call poor by themselves (they are listed, with their words).
_INFORMATIONAL = frozenset({"turn_used", "tcp_used", "multiple_rejoins", "slow_connection_setup"})
_AUDIO_CODES = frozenset(
    {"audio_concealment", "low_emos", "very_low_emos", "audio_desync", "high_jitter"}
)
_VIDEO_CODES = frozenset(
    {"video_freeze", "low_frame_rate", "keyframe_storm", "video_decode_overload"}
)


def _seconds(issue: Issue, now: datetime) -> int:
    end = issue.resolved_at or now
    return max(0, round((end - issue.created_at).total_seconds()))


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"


def _and(names: list[str]) -> str:
    names = sorted(set(names))
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _media(kinds: set[str]) -> str:
    if kinds >= {"audio", "video"}:
        return "audio and video"
    if kinds:
        return next(iter(kinds))
    return "media"


def conference_verdict(conference_id: Any) -> dict[str, Any]:
    """The verdict of a conference::

        {"level": "good" | "fair" | "poor",
         "text": "Good call" | "<sentence>; <sentence>",
         "causes": [{"issue", "code", "level", "text", "summary", "affected",
                     "likely_cause", "seconds", "ongoing"}],
         "participants": [{"participant", "name", "level", "text"}]}

    A cause is a primary issue: a diagnosis (its ``data`` says who was
    affected and who is the likely cause) or a detector's issue no
    diagnosis explains. Errors make it poor, warnings fair.
    """
    now = clock.now()
    primaries = list(
        Issue.objects.filter(conference_id=conference_id, cause__isnull=True).order_by("created_at")
    )
    symptom_codes: dict[Any, set[str]] = {}
    for cause_id, code, data in Issue.objects.filter(
        conference_id=conference_id, cause__isnull=False
    ).values_list("cause_id", "code", "data"):
        kinds = symptom_codes.setdefault(cause_id, set())
        kinds.add(code)
        if isinstance(data, dict) and data.get("kind"):
            kinds.add(f"kind:{data['kind']}")
    # Everyone in the call (an SFU is not a participant to judge).
    names = {
        str(pk): name or external
        for pk, name, external, is_sfu in Participant.objects.filter(
            conferenceparticipant__conference_id=conference_id
        ).values_list("pk", "participant_name", "participant_id", "is_sfu")
        if not is_sfu
    }
    participant_ids: set[str] = set(names)

    causes = []
    for issue in primaries:
        if issue.code in _INFORMATIONAL:
            continue
        causes.append(_cause(issue, symptom_codes.get(issue.pk, set()), names, now))
    level = _worst([c["level"] for c in causes])
    text = "Good call" if level == GOOD else "; ".join(c["text"] for c in causes)

    everyone = participant_ids | {a for c in causes for a in c["affected"]}
    participants = []
    for participant in sorted(everyone, key=lambda p: names.get(p, p)):
        mine = [c for c in causes if participant in c["affected"]]
        blamed = [c for c in causes if c["likely_cause"].get("participant") == participant]
        own = mine + [b for b in blamed if b not in mine]
        own_level = _worst([c["level"] for c in mine]) if mine else GOOD
        if mine:
            words = "; ".join(c["text"] for c in mine)
        elif blamed:
            words = "Good for them; " + "; ".join(c["summary"] for c in blamed)
        else:
            words = "Good"
        participants.append(
            {
                "participant": participant,
                "name": names.get(participant),
                "level": own_level,
                "text": words,
                "causes": [c["issue"] for c in own],
            }
        )
    return {"level": level, "text": text, "causes": causes, "participants": participants}


def _worst(levels: list[str]) -> str:
    if POOR in levels:
        return POOR
    if FAIR in levels:
        return FAIR
    return GOOD


def _cause(issue: Issue, codes: set[str], names: dict[str, str], now: datetime) -> dict[str, Any]:
    seconds = _seconds(issue, now)
    level = POOR if issue.type == "error" else FAIR
    data = issue.data if isinstance(issue.data, dict) else {}
    if issue.code in CAUSE_CODES:
        affected = [a["participant"] for a in data.get("affected", []) if a.get("participant")]
        kinds = {c.split(":", 1)[1] for c in codes if c.startswith("kind:")}
        kinds |= {"audio" for c in codes if c in _AUDIO_CODES}
        kinds |= {"video" for c in codes if c in _VIDEO_CODES}
        if issue.code == "sender_media_stopped":
            adjective = "No"
        else:
            adjective = "Poor" if level == POOR else "Degraded"
        who = _and([names.get(a, "?") for a in affected])
        summary = data.get("summary") or CATALOGUE[issue.code].title
        text = f"{adjective} {_media(kinds)} for {who} for {_duration(seconds)}: {summary}"
        likely = data.get("likely_cause") or {}
    else:
        affected = [str(issue.participant_id)] if issue.participant_id else []
        kind = CATALOGUE.get(issue.code)
        title = kind.title if kind else issue.code
        who = _and([names.get(a, "?") for a in affected])
        summary = title
        text = f"{title}" + (f" for {who}" if who else "") + f" ({_duration(seconds)})"
        likely = {}
    return {
        "issue": str(issue.pk),
        "code": issue.code,
        "level": level,
        "text": text,
        "summary": summary,
        "affected": affected,
        "likely_cause": likely,
        "seconds": seconds,
        "ongoing": issue.resolved_at is None,
    }
