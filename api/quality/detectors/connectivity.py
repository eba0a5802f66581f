"""Detectors on a connection's state events (and on the passing of time,
checked whenever the next sample or event of the connection arrives).

* ``ice_failed`` — ``iceConnectionState`` failed (peermetrics; client-monitor
  ice-connection-failed); resolved by an ICE restart that connects again.
* ``connection_failed`` — ``connectionState`` failed (peermetrics).
* ``connection_disconnected`` — ``connectionState`` or ``iceConnectionState``
  disconnected for longer than a grace period (client-monitor
  IceConnectivityDetector, > 5 s; peermetrics raised one per event, which
  made every network blip an issue). The issue starts when the
  disconnection did and ends when the connection is connected again.
* ``slow_connection_setup`` — the first negotiation takes longer than 5 s
  to connect (client-monitor LongPcConnectionEstablishment; peermetrics'
  setup-time buckets end at "> 5000 ms"). Raised while still connecting,
  resolved at the moment it connects, so its duration is the setup time.
"""

from __future__ import annotations

from datetime import datetime

from api.common.time import iso
from api.quality.conf import rule_settings
from api.quality.detectors.engine import RAISE, RESOLVE, Transition
from api.quality.state import ConnectionState

CONNECTED_ICE = {"connected", "completed"}


def _subject(state: ConnectionState) -> str:
    return f"connection:{state.connection_id}"


def _raise(
    state: ConnectionState,
    code: str,
    at: datetime,
    *,
    severity: str,
    evidence: dict,
    resolved_at: datetime | None = None,
) -> list[Transition]:
    rule = state.rule(code, _subject(state))
    if rule.open:
        return []
    if resolved_at is None:
        rule.open, rule.onset = True, at
    return [
        Transition(
            RAISE,
            code,
            _subject(state),
            at,
            severity=severity,
            evidence=evidence,
            resolved_at=resolved_at,
        )
    ]


def _resolve(state: ConnectionState, code: str, at: datetime) -> list[Transition]:
    rule = state.rule(code, _subject(state))
    if not rule.open:
        return []
    resolved_at = max(at, rule.onset or at)
    rule.reset()
    return [Transition(RESOLVE, code, _subject(state), resolved_at)]


def grace_check(state: ConnectionState, *, now: datetime) -> list[Transition]:
    """Raise ``connection_disconnected`` once the disconnection outlasted
    the grace period; ``slow_connection_setup`` once connecting did."""
    transitions: list[Transition] = []
    since = state.disconnected_since
    grace = float(rule_settings("connection_disconnected")["grace_seconds"])
    if since is not None and (now - since).total_seconds() >= grace:
        transitions += _raise(
            state,
            "connection_disconnected",
            since,
            severity="warning",
            evidence={"grace_seconds": grace, "detected_at": iso(now)},
        )
    limit = float(rule_settings("slow_connection_setup")["raise"])
    started = state.setup_started
    # Media flowing proves it connected (its state event is late or lost).
    connecting = not state.connected and not state.established
    if started is not None and connecting and (now - started).total_seconds() > limit:
        transitions += _raise(
            state,
            "slow_connection_setup",
            started,
            severity="warning",
            evidence={"threshold_seconds": limit, "detected_at": iso(now)},
        )
    return transitions


def state_event(state: ConnectionState, *, name: str, value: str, at: datetime) -> list[Transition]:
    """Transitions caused by ``oniceconnectionstatechange`` /
    ``onconnectionstatechange`` = ``value`` at ``at``."""
    transitions = grace_check(state, now=at)
    ice = name == "oniceconnectionstatechange"
    if ice:
        state.ice_state = value
    else:
        state.connection_state = value
    connected = value in CONNECTED_ICE if ice else value == "connected"

    if value == "failed":
        code = "ice_failed" if ice else "connection_failed"
        transitions += _raise(state, code, at, severity="error", evidence={"state": value})
    elif value == "disconnected":
        if state.disconnected_since is None:
            state.disconnected_since = at
    elif connected:
        state.disconnected_since = None
        transitions += _resolve(state, "connection_disconnected", at)
        transitions += _resolve(state, "ice_failed" if ice else "connection_failed", at)
        transitions += _resolve(state, "icecandidateerror", at)
        if not state.connected:
            state.connected = True
            resolved = _resolve(state, "slow_connection_setup", at)
            state.setup_checked = state.setup_checked or bool(resolved)
            transitions += resolved
    return transitions


def setup_finished(
    state: ConnectionState, *, started: datetime, connected_at: datetime
) -> list[Transition]:
    """The first negotiation connected: a slow setup not raised live (no
    sample or event arrived while it was connecting) is recorded as a
    closed interval."""
    limit = float(rule_settings("slow_connection_setup")["raise"])
    seconds = (connected_at - started).total_seconds()
    if seconds <= limit:
        return []
    return _raise(
        state,
        "slow_connection_setup",
        started,
        severity="warning",
        evidence={"setup_seconds": round(seconds, 3), "threshold_seconds": limit},
        resolved_at=connected_at,
    )
