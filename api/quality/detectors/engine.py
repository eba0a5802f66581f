"""Hysteresis for threshold detectors, shared by every rule.

A rule turns each evaluated sample into a value; the value is *bad* past
the ``raise`` threshold and *good* back past the ``clear`` threshold (values
in between are neither: they keep an open issue open and a closed one
closed). An issue is raised when ``k`` of the last ``n`` evaluated samples
were bad, the current one included, for at least ``min_seconds`` since the
start of the first of them; it is resolved after ``clear_n`` consecutive
good samples.

Times are interval times: a sample describes the interval that ends when
it was taken (``end``) and starts at the previous sample (``start``). An
issue's ``created_at`` is the start of its first bad interval, its
``resolved_at`` the start of the first good interval of the streak that
cleared it, so its duration is the time the trouble was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.common.time import iso

RAISE = "raise"
RESOLVE = "resolve"
ESCALATE = "escalate"
PEAK = "peak"

# An open issue's stored peak is rewritten only when the new peak is worse
# by this share (a few writes per issue, not one per sample).
PEAK_WRITE_STEP = 0.2


@dataclass
class RuleState:
    """Hysteresis of one (code, subject)."""

    window: list[tuple[bool, datetime, float]] = field(default_factory=list)
    run_start: datetime | None = None
    open: bool = False
    onset: datetime | None = None
    peak: float | None = None
    written_peak: float | None = None
    severity: str | None = None
    clear_streak: int = 0
    clear_since: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def reset(self) -> None:
        self.window.clear()
        self.run_start = None
        self.open = False
        self.onset = None
        self.peak = None
        self.written_peak = None
        self.severity = None
        self.clear_streak = 0
        self.clear_since = None
        self.evidence = {}


@dataclass(frozen=True)
class Transition:
    """A change of an issue that must be written."""

    action: str
    code: str
    subject: str
    at: datetime
    severity: str | None = None
    peak: float | None = None
    evidence: dict[str, Any] | None = None
    track_id: Any = None
    # For flags and event-driven issues: raise and resolve at once.
    resolved_at: datetime | None = None


def _worse(a: float, b: float | None, *, above: bool) -> float:
    if b is None:
        return a
    return max(a, b) if above else min(a, b)


def _much_worse(new: float, written: float | None, *, above: bool) -> bool:
    if written is None:
        return True
    if above:
        return new > written + abs(written) * PEAK_WRITE_STEP
    return new < written - abs(written) * PEAK_WRITE_STEP


def _severity(peak: float, *, error_at: float | None, above: bool, base: str) -> str:
    if error_at is not None and (peak > error_at if above else peak < error_at):
        return "error"
    return base


def threshold_quiet(
    state: RuleState, value: float, start: datetime, params: dict[str, Any], above: bool
) -> bool:
    """The step of the usual sample, for a closed issue and a good value:
    the value joins the window and nothing else changes. Returns False,
    having changed nothing, when the full :func:`threshold_step` must run.
    (Apart so that a rule can skip building the step's arguments: some
    twenty rules a sample, nearly all quiet.)"""
    if state.open:
        return False
    raise_at = params.get("raise", 0.5)
    if value > raise_at if above else value < raise_at:
        return False
    window = state.window
    window.append((False, start, value))
    del window[: -int(params.get("n", 1))]
    state.run_start = None
    return True


def threshold_step(
    state: RuleState,
    *,
    code: str,
    subject: str,
    value: float | None,
    start: datetime,
    end: datetime,
    params: dict[str, Any],
    above: bool,
    base_severity: str,
    evidence: dict[str, Any] | None = None,
    track_id: Any = None,
) -> list[Transition]:
    """Feed one sample's value (None: not evaluated, nothing changes)."""
    if value is None or threshold_quiet(state, value, start, params, above):
        return []
    raise_at = params.get("raise", 0.5)
    bad = value > raise_at if above else value < raise_at

    # Most samples change nothing: the evidence of a raise or resolve is
    # built only when one happens, and the settings read only when needed.
    if not state.open:
        state.window.append((bad, start, value))
        del state.window[: -int(params.get("n", 1))]
        if not bad:
            state.run_start = None
            return []
        if state.run_start is None:
            state.run_start = start
        bads = [entry for entry in state.window if entry[0]]
        if len(bads) < int(params.get("k", 1)):
            return []
        onset = min(bads[0][1], state.run_start)
        if (end - onset).total_seconds() < float(params.get("min_seconds", 0)):
            return []
        peak = value
        for entry in bads:
            peak = _worse(entry[2], peak, above=above)
        state.open = True
        state.onset = onset
        state.peak = state.written_peak = peak
        state.severity = _severity(
            peak, error_at=params.get("error"), above=above, base=base_severity
        )
        state.clear_streak = 0
        state.evidence = {
            "value": round(value, 3),
            "threshold": raise_at,
            **(evidence or {}),
            "detected_at": iso(end),
        }
        return [
            Transition(
                RAISE,
                code,
                subject,
                onset,
                severity=state.severity,
                peak=round(peak, 3),
                evidence=state.evidence,
                track_id=track_id,
            )
        ]

    clear_at = params.get("clear", raise_at)
    good = value <= clear_at if above else value >= clear_at
    error_at = params.get("error")
    transitions: list[Transition] = []
    if bad:
        state.peak = _worse(value, state.peak, above=above)
    if good:
        state.clear_streak += 1
        if state.clear_streak == 1:
            state.clear_since = start
        if state.clear_streak >= int(params.get("clear_n", 1)):
            resolved_at = max(state.clear_since or start, state.onset or start)
            evidence = {**state.evidence, "last": round(value, 3)}
            transitions.append(
                Transition(
                    RESOLVE,
                    code,
                    subject,
                    resolved_at,
                    peak=round(state.peak, 3) if state.peak is not None else None,
                    evidence=evidence,
                    track_id=track_id,
                )
            )
            state.reset()
            return transitions
    else:
        state.clear_streak = 0
        state.clear_since = None
    if state.peak is not None:
        severity = _severity(state.peak, error_at=error_at, above=above, base=base_severity)
        if severity != state.severity and severity == "error":
            state.severity = severity
            state.written_peak = state.peak
            transitions.append(
                Transition(ESCALATE, code, subject, end, severity=severity, peak=state.peak)
            )
        elif _much_worse(state.peak, state.written_peak, above=above):
            state.written_peak = state.peak
            transitions.append(Transition(PEAK, code, subject, end, peak=round(state.peak, 3)))
    return transitions


def resolve_open(
    state: RuleState, *, code: str, subject: str, at: datetime, track_id: Any = None
) -> list[Transition]:
    """Close an open issue whatever its values (its subject ended, or a
    higher tier took over)."""
    if not state.open:
        state.reset()
        return []
    resolved_at = max(at, state.onset or at)
    peak = round(state.peak, 3) if state.peak is not None else None
    evidence = state.evidence
    state.reset()
    return [
        Transition(
            RESOLVE, code, subject, resolved_at, peak=peak, evidence=evidence, track_id=track_id
        )
    ]


def open_now(
    state: RuleState,
    *,
    code: str,
    subject: str,
    at: datetime,
    value: float,
    severity: str,
    evidence: dict[str, Any] | None = None,
    track_id: Any = None,
) -> list[Transition]:
    """Open an issue without waiting for persistence (a lower tier taking
    over from a higher one that already persisted)."""
    state.reset()
    state.open, state.onset = True, at
    state.peak = state.written_peak = value
    state.severity = severity
    state.evidence = {"value": round(value, 3), **(evidence or {}), "detected_at": iso(at)}
    return [
        Transition(
            RAISE,
            code,
            subject,
            at,
            severity=severity,
            peak=round(value, 3),
            evidence=state.evidence,
            track_id=track_id,
        )
    ]
