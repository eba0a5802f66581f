"""A call's problems in words, for the worst calls and the call header.

Until the call-quality second pass gives each call a verdict (its cause and
whose network), the words are built from the issues' own facts: how many
participants each problem affected, its peak value and how long it lasted.
Everything that says "why" goes through :func:`call_reason`, so a verdict
can replace it in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from api.quality.catalogue import issue_title

# The unit of an issue's peak value, by code (the detectors' measures).
PEAK_UNITS = {
    "high_packet_loss": "%",
    "audio_concealment": "%",
    "high_jitter": " ms",
    "high_rtt": " ms",
    "slow_connection_setup": " ms",
    "audio_desync": " ms",
    "low_frame_rate": " fps",
    "low_emos": " MOS",
    "very_low_emos": " MOS",
}


@dataclass(frozen=True)
class IssueFact:
    code: str
    type: str
    participant_id: object
    peak_value: float | None
    created_at: datetime
    resolved_at: datetime | None


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
        who = f"{affected} of {participants} participants" if participants and affected else ""
        peaks = [i.peak_value for i in items if i.peak_value is not None]
        peak = ""
        if peaks and code in PEAK_UNITS:
            value = min(peaks) if code.endswith("emos") else max(peaks)
            peak = f" (peak {value:.3g}{PEAK_UNITS[code]})"
        duration = lasted(items)
        during = f" for {_seconds(duration)}" if duration >= 1 else ""
        text = f"{issue_title(code)}{peak}{during}"
        parts.append(f"{who}: {text}" if who else text)
    more = len(ranked) - limit
    tail = f"; and {more} more kind{'s' if more > 1 else ''} of issue" if more > 0 else ""
    return "; ".join(parts) + tail
