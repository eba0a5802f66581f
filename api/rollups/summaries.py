"""Pure arithmetic of rollups: the counters one call contributes to its
app's day, and how counters add up and are taken away.

A contribution is a JSON object of numbers and of objects of numbers::

    {"calls": {"good": 1}, "seconds": 754, "participants": 3,
     "issues": {"inbound_packet_loss": 2}, "issue_calls": {"inbound_packet_loss": 1},
     "mos": {"4.0": 1}, "video": {"3.5": 1}, "setup": {"< 250 ms": 2},
     "duration": {"10–30 min": 1}, "browsers": {"Chrome 156": 3}, "os": {"Linux": 3},
     "sdk": {"—": 3}, "network": {"direct": 2, "relayed": 0}}

``AppDay.data`` is the sum of its calls' contributions, so a call that is
summarised again (it restarted and ended once more) takes its old
contribution away and adds the new one: the day stays exact.
"""

from __future__ import annotations

from typing import Any

# Histogram buckets: (upper bound, label); the last has no bound.
SETUP_BUCKETS: list[tuple[float | None, str]] = [
    (100, "< 100 ms"),
    (250, "< 250 ms"),
    (500, "< 500 ms"),
    (1000, "< 1 s"),
    (2000, "< 2 s"),
    (5000, "< 5 s"),
    (None, "≥ 5 s"),
]
DURATION_BUCKETS: list[tuple[float | None, str]] = [
    (60, "< 1 min"),
    (300, "1–5 min"),
    (900, "5–15 min"),
    (1800, "15–30 min"),
    (3600, "30–60 min"),
    (None, "≥ 1 h"),
]
# MOS and video score (1–5) in half points: "3.5" holds 3.5 ≤ value < 4.0.
SCORE_BUCKETS = ["1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5"]


def bucket(value: float, buckets: list[tuple[float | None, str]]) -> str:
    for bound, label in buckets:
        if bound is None or value < bound:
            return label
    return buckets[-1][1]


def score_bucket(value: float) -> str:
    half = min(max(int(value * 2) / 2, 1.0), 4.5)
    return f"{half:.1f}"


def badness(
    *, errors: int, warnings: int, mos_min: float | None, issue_seconds: float, seconds: int
) -> float:
    """How bad a call was, for ordering the worst calls: errors weigh more
    than warnings, then the share of the call that had an issue and how low
    its MOS went. Only the order matters."""
    share = min(issue_seconds / seconds, 4.0) if seconds else 0.0
    low_mos = max(0.0, 4.0 - mos_min) if mos_min is not None else 0.0
    return round(10.0 * errors + 3.0 * warnings + 5.0 * share + 4.0 * low_mos, 3)


def add(total: dict[str, Any], part: dict[str, Any], sign: int = 1) -> dict[str, Any]:
    """``total`` plus (or, with ``sign=-1``, minus) ``part``, in place;
    counters that reach zero are dropped."""
    for key, value in part.items():
        if isinstance(value, dict):
            inner = total.setdefault(key, {})
            add(inner, value, sign)
            if not inner:
                del total[key]
        else:
            result = total.get(key, 0) + sign * value
            if result:
                total[key] = round(result, 3) if isinstance(result, float) else result
            else:
                total.pop(key, None)
    return total


def merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for part in parts:
        add(total, part)
    return total
