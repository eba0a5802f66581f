"""A call's problems in words, for the worst calls and the call header.

The words are built from the issues' own facts: how many participants
each problem affected, its peak value and how long it lasted; a diagnosis
(api.quality.diagnosis: one per cause, whose network it was) speaks for
its symptoms with its summary ("2 of 3 participants: alice's uplink lost
9 % of packets for 40 s"). Everything that says "why" goes through
:func:`call_reason`; the full verdict of one call, in words per
participant, is api.quality.verdicts.conference_verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.quality.catalogue import issue_title
from api.quality.diagnosis import CAUSE_CODES

# The unit of an issue's peak value when its evidence does not name one.
PEAK_UNITS = {
    "high_packet_loss": "%",
    "audio_concealment": "%",
    "high_jitter": "ms",
    "high_rtt": "ms",
    "slow_connection_setup": "ms",
    "audio_desync": "ms",
    "low_frame_rate": "fps",
    "low_emos": "MOS",
    "very_low_emos": "MOS",
}


@dataclass(frozen=True)
class IssueFact:
    code: str
    type: str
    participant_id: object
    peak_value: float | None
    created_at: datetime
    resolved_at: datetime | None
    # From the issue's evidence: the unit of its peak value, the media kind.
    unit: str | None = None
    kind: str | None = None
    # One diagnosis per cause (api.quality.diagnosis): the diagnosis a
    # symptom is linked to; a diagnosis's summary in words and how many
    # participants it affected.
    cause_id: object = None
    summary: str | None = None
    affected: int | None = None

    @classmethod
    def of(cls, issue: Any) -> IssueFact:
        """From an Issue, or a dict of its values (``data`` included)."""
        values: dict[str, Any] = issue if isinstance(issue, dict) else vars(issue)

        def get(name: str) -> Any:
            return values[name]

        data: dict[str, Any] = values["data"] if isinstance(values["data"], dict) else {}
        return cls(
            code=get("code"),
            type=get("type"),
            participant_id=get("participant_id"),
            peak_value=get("peak_value"),
            created_at=get("created_at"),
            resolved_at=get("resolved_at"),
            unit=data.get("unit"),
            kind=data.get("kind"),
            cause_id=values.get("cause_id"),
            summary=data.get("summary") if get("code") in CAUSE_CODES else None,
            affected=len(data.get("affected") or []) if get("code") in CAUSE_CODES else None,
        )


def _seconds(value: float) -> str:
    if value < 90:
        return f"{value:.0f} s"
    if value < 5400:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def call_reason(
    *, issues: Iterable[IssueFact], participants: int, end: datetime | None, limit: int = 2
) -> str:
    """The call's worst problems in one sentence, e.g. "2 of 3 participants:
    High packet loss (peak 12 %) for 40 s". Errors come first, then the
    problems that lasted longest. "" when the call had no issue."""
    by_code: dict[str, list[IssueFact]] = {}
    for issue in issues:
        if issue.cause_id is not None:
            continue  # a symptom: its diagnosis says it
        by_code.setdefault(issue.code, []).append(issue)
    if not by_code:
        return ""

    def lasted(items: list[IssueFact]) -> float:
        return max(
            ((i.resolved_at or end or i.created_at) - i.created_at).total_seconds() for i in items
        )

    ranked = sorted(
        by_code.items(),
        key=lambda item: (any(i.type == "error" for i in item[1]), lasted(item[1])),
        reverse=True,
    )
    parts = []
    for code, items in ranked[:limit]:
        affected = len({i.participant_id for i in items if i.participant_id is not None})
        diagnosed = [i for i in items if i.summary]
        if diagnosed:
            # A diagnosis: who it affected, and the cause in words.
            affected = max(i.affected or 0 for i in diagnosed)
        who = f"{affected} of {participants} participants" if participants and affected else ""
        peaks = [i.peak_value for i in items if i.peak_value is not None]
        unit = next((i.unit for i in items if i.unit), None) or PEAK_UNITS.get(code)
        peak = ""
        if peaks and unit:
            value = min(peaks) if unit == "MOS" else max(peaks)
            peak = f" (peak {value:.3g}{'' if unit == '%' else ' '}{unit})"
        kinds = sorted({i.kind for i in items if i.kind})
        media = f" on {' and '.join(kinds)}" if kinds else ""
        duration = lasted(items)
        during = f" for {_seconds(duration)}" if duration >= 1 else ""
        text = f"{issue_title(code)}{media}{peak}{during}"
        if diagnosed:
            text = f"{diagnosed[0].summary}{during}"
        parts.append(f"{who}: {text}" if who else text)
    more = len(ranked) - limit
    tail = f"; and {more} more kind{'s' if more > 1 else ''} of issue" if more > 0 else ""
    return "; ".join(parts) + tail
