"""Detectors run on every stats sample: one rule per issue code, fed the
metrics of each track (``StreamSample``) or of the selected candidate pair
(``PairSample``). Each rule's docstring names its source; thresholds and
persistence are settings (:mod:`api.quality.conf`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.quality.catalogue import CATALOGUE
from api.quality.conf import rule_settings
from api.quality.detectors.engine import (
    RESOLVE,
    Transition,
    open_now,
    resolve_open,
    threshold_quiet,
    threshold_step,
)
from api.quality.metrics import DIRECTIONS, KINDS, Extraction, PairSample, StreamSample
from api.quality.state import ConnectionState, ParticipantMarks


@dataclass(frozen=True)
class Marks:
    """What the sample's own participant and its peer did to their media."""

    own: ParticipantMarks
    peer: ParticipantMarks


@dataclass(frozen=True)
class StreamRule:
    code: str
    kind: tuple[str, ...]
    direction: str
    above: bool
    unit: str
    value: Callable[[StreamSample, dict[str, Any], Marks, Extraction], float | None]


def _packet_loss(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """Twilio Voice Insights ``high-packet-loss`` (average > 3 % raises,
    ≤ 1 % clears) and Pexip's loss tiers (≥ 10 % terrible → error). Only
    intervals with enough packets: DTX audio sends ~2.5 packets/s."""
    if s.loss_pct is None or (s.packets or 0) + (s.packets_lost or 0) < p.get("min_packets", 0):
        return None
    return s.loss_pct


def _jitter(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """Twilio ``high-jitter`` and Teams CQD: audio jitter > 30 ms."""
    return s.jitter_ms if s.interval_s is not None else None


def _inbound_dry(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """client-monitor DryInboundTrackDetector: a track that received data
    receives none for > 5 s. Not when the sender stopped or muted it (its
    events say so), and not when the whole connection receives nothing
    (``one_way_media`` reports that once)."""
    if s.bytes_delta is None or not s.had_traffic:
        return None
    pair = x.pair
    if pair and pair.bytes_received_delta is not None and pair.bytes_received_delta <= 0:
        return None
    own, peer = m.own, m.peer
    if own.lifted or peer.lifted:
        marked = (
            (s.ident and (s.ident in own.ended_idents or _track_muted(own, s)))
            or _kind_stopped(peer, s)
            or (s.kind == "audio" and _muted(peer, s))
        )
    else:  # the usual sample: no mark was ever lifted
        marked = (
            (s.ident and (s.ident in own.ended_idents or s.ident in own.muted_idents))
            or s.kind in peer.stopped_kinds
            or (s.kind == "audio" and peer.muted)
        )
    return 1.0 if marked else s.bytes_delta


# A mark holds for a sample whose interval started before it was lifted
# (the queued worker may analyse the sample after the lifting event).
def _track_muted(marks: ParticipantMarks, s: StreamSample) -> bool:
    return bool(s.ident) and (
        s.ident in marks.muted_idents or marks.lifted_after(f"track:{s.ident}", s.start)
    )


def _kind_stopped(marks: ParticipantMarks, s: StreamSample) -> bool:
    return s.kind in marks.stopped_kinds or marks.lifted_after(f"kind:{s.kind}", s.start)


def _muted(marks: ParticipantMarks, s: StreamSample) -> bool:
    return marks.muted or marks.lifted_after("muted", s.start)


def _outbound_dry(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """client-monitor DryOutboundTrackDetector and twilio-voice.js
    ``low-bytes-sent``: an outgoing track that sent data sends none for
    > 5 s, although it is active, not ended and not muted."""
    if s.bytes_delta is None or not s.had_traffic:
        return None
    own = m.own
    if (
        s.active is False
        or (s.ident and s.ident in own.ended_idents)
        or s.kind in own.stopped_kinds
        or (s.kind == "audio" and own.muted)
        or (own.lifted and (_kind_stopped(own, s) or (s.kind == "audio" and _muted(own, s))))
    ):
        return 1.0
    return s.bytes_delta


def _freeze(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """W3C webrtc-stats freezes (``totalFreezesDuration``), raised while
    frozen and resolved once frames render again (client-monitor
    FreezedVideoTrackDetector): seconds frozen in the interval."""
    if s.freeze_ms is None or not s.frames_decoded:
        return None
    return s.freeze_ms / 1000.0


def _frame_rate(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """Teams CQD: < 7 fps is poor for camera video. Only while frames flow
    (no frames is ``dry_inbound_track``) and not when the sender stopped
    its camera."""
    if not s.frames_decoded or s.kind in m.peer.stopped_kinds:
        return None
    if m.peer.lifted and _kind_stopped(m.peer, s):
        return None
    return s.fps


def _decode_ratio(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """client-monitor CpuPerformanceDetector: decoded/received frames
    < 0.7 raises, > 0.85 clears, over ≥ 10 frames."""
    if s.frames_received is None or s.frames_decoded is None:
        return None
    if s.frames_received < p.get("min_frames", 10):
        return None
    return s.frames_decoded / s.frames_received


def _pli_rate(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """client-monitor keyframe storm: > 0.5 PLI/s raises, < 0.15 clears."""
    return s.pli_rate


def _concealment(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """client-monitor AudioConcealmentDetector (after Webex): audible
    concealed samples (``concealedSamples − silentConcealedSamples``) over
    samples received > 3 % raises, > 5 % is severe, < 1 % clears, with at
    least 24 000 samples."""
    if s.samples_delta is None or s.samples_delta < p.get("min_samples", 0):
        return None
    return s.concealment_pct


def _stretch(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """client-monitor AudioDesyncDetector: samples inserted or removed to
    stretch playout over samples received > 10 % raises, < 5 % clears."""
    if s.samples_delta is None or s.samples_delta < p.get("min_samples", 0):
        return None
    return s.stretch_pct


def _mos(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """Wideband E-model MOS for Opus (``api.quality.mos``), classified with G.109:
    R < 70 ('many users dissatisfied', MOS 3.6) is ``low_emos``, R < 60
    ('nearly all users dissatisfied', MOS 3.1) ``very_low_emos``; held for
    ≥ 30 s as the original server required."""
    return s.mos


def _cpu_share(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """W3C ``qualityLimitationDurations``; client-monitor: CPU-limited share
    of the interval > 0.3."""
    return s.cpu_share


def _bandwidth_share(s: StreamSample, p: dict, m: Marks, x: Extraction) -> float | None:
    """W3C ``qualityLimitationDurations``; client-monitor CongestionDetector
    treats any bandwidth limitation as congestion. Ramp-up at the start of a
    call is bandwidth-limited too, so we ask for most of the interval
    (> 0.5) in 2 of 3 samples."""
    return s.bandwidth_share


AUDIO, VIDEO, BOTH = ("audio",), ("video",), ("audio", "video")

STREAM_RULES = [
    StreamRule("high_packet_loss", BOTH, "inbound", True, "%", _packet_loss),
    StreamRule("high_jitter", AUDIO, "inbound", True, "ms", _jitter),
    StreamRule("dry_inbound_track", BOTH, "inbound", False, "bytes", _inbound_dry),
    StreamRule("dry_outbound_track", BOTH, "outbound", False, "bytes", _outbound_dry),
    StreamRule("video_freeze", VIDEO, "inbound", True, "s", _freeze),
    StreamRule("low_frame_rate", VIDEO, "inbound", False, "fps", _frame_rate),
    StreamRule("video_decode_overload", VIDEO, "inbound", False, "ratio", _decode_ratio),
    StreamRule("keyframe_storm", VIDEO, "inbound", True, "PLI/s", _pli_rate),
    StreamRule("audio_concealment", AUDIO, "inbound", True, "%", _concealment),
    StreamRule("audio_desync", AUDIO, "inbound", True, "%", _stretch),
    StreamRule("cpu_limited_sending", VIDEO, "outbound", True, "share", _cpu_share),
    StreamRule("bandwidth_limited_sending", VIDEO, "outbound", True, "share", _bandwidth_share),
]
# The rules that apply to a stream, by (kind, direction), in STREAM_RULES order.
_RULES_OF_STREAM = {
    (kind, direction): tuple(
        rule for rule in STREAM_RULES if kind in rule.kind and direction == rule.direction
    )
    for kind in KINDS
    for direction in DIRECTIONS
}
# very_low_emos supersedes low_emos on the same stream: while the stream is
# very low, the low issue is closed and not raised again, so a stream's
# timeline reads low → very low → low without overlapping issues.
MOS_TIERS = (
    StreamRule("very_low_emos", AUDIO, "inbound", False, "MOS", _mos),
    StreamRule("low_emos", AUDIO, "inbound", False, "MOS", _mos),
)


def _stream_step(
    rule: StreamRule,
    state: ConnectionState,
    s: StreamSample,
    subject: str,
    marks: Marks,
    x: Extraction,
) -> list[Transition]:
    code = rule.code
    params = rule_settings(code)
    value = rule.value(s, params, marks, x)
    if value is None:
        # Not evaluated: nothing changes (threshold_step would return at once).
        return []
    rule_state = state.rules.get((code, subject))
    if rule_state is None:
        rule_state = state.rule(code, subject)
    if threshold_quiet(rule_state, value, s.start, params, rule.above):
        return []
    return threshold_step(
        rule_state,
        code=code,
        subject=subject,
        value=value,
        start=s.start,
        end=s.at,
        params=params,
        above=rule.above,
        base_severity=CATALOGUE[code].type,
        evidence={"unit": rule.unit, "stats_id": s.stats_id, "kind": s.kind},
        track_id=s.track_id,
    )


def _mos_tiers(
    state: ConnectionState, s: StreamSample, subject: str, marks: Marks, x: Extraction
) -> list[Transition]:
    very_low, low = MOS_TIERS
    very_low_state = state.rule(very_low.code, subject)
    low_state = state.rule(low.code, subject)
    stepped = _stream_step(very_low, state, s, subject, marks, x)
    if very_low_state.open:
        # Very low took over: the low issue ends where it started.
        return stepped + resolve_open(
            low_state,
            code=low.code,
            subject=subject,
            at=very_low_state.onset or s.start,
            track_id=s.track_id,
        )
    handed_back = [t for t in stepped if t.action == RESOLVE]
    if handed_back and s.mos is not None and s.mos < rule_settings(low.code)["raise"]:
        # Better, but still low: the low issue starts where very low ended.
        return stepped + open_now(
            low_state,
            code=low.code,
            subject=subject,
            at=handed_back[0].at,
            value=s.mos,
            severity=CATALOGUE[low.code].type,
            evidence={"unit": "MOS", "stats_id": s.stats_id, "kind": s.kind},
            track_id=s.track_id,
        )
    return stepped + _stream_step(low, state, s, subject, marks, x)


def streams_detect(
    *, state: ConnectionState, extraction: Extraction, marks: Marks
) -> list[Transition]:
    """Transitions of every stream rule for one sample's streams. Streams
    without rates (a first sample) are not evaluated."""
    transitions: list[Transition] = []
    for s in extraction.streams:
        if s.interval_s is None:
            continue
        subject = s.subject
        for rule in _RULES_OF_STREAM.get((s.kind, s.direction), ()):
            stepped = _stream_step(rule, state, s, subject, marks, extraction)
            if stepped:
                transitions += stepped
        if s.kind == "audio" and s.direction == "inbound":
            transitions += _mos_tiers(state, s, subject, marks, extraction)
    if extraction.pair is not None:
        transitions += pair_detect(state=state, pair=extraction.pair)
    return transitions


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def pair_detect(*, state: ConnectionState, pair: PairSample) -> list[Transition]:
    """Connection-level rules on the selected candidate pair.

    * ``high_rtt`` — Twilio ``high-rtt`` (> 400 ms), G.114 (> 400 ms one-way
      is unacceptable: RTT > 800 ms escalates to an error).
    * ``one_way_media`` — client-monitor transport stalled: bytes sent keep
      rising, nothing received for > 5 s after traffic was seen.
    * ``turn_used`` / ``tcp_used`` — peermetrics: the selected local
      candidate is a relay / uses TCP (or reaches its TURN server over TCP
      or TLS, ``relayProtocol``); resolved when the pair changes away.
    """
    subject = f"connection:{state.connection_id}"
    transitions: list[Transition] = []
    if pair.had_received or (pair.bytes_received_delta or 0) > 0:
        state.established = True

    one_way = None
    if (
        pair.bytes_sent_delta is not None
        and pair.bytes_received_delta is not None
        and pair.had_received
        and pair.bytes_sent_delta > 0
    ):
        one_way = pair.bytes_received_delta
    relay = pair.candidate_type == "relay"
    tcp = pair.protocol == "tcp" or pair.relay_protocol in {"tcp", "tls"}
    checks: tuple[tuple[str, float | None, bool], ...] = (
        ("high_rtt", pair.rtt_ms, True),
        ("one_way_media", one_way, False),
        ("turn_used", _flag(relay) if pair.candidate_type else None, True),
        ("tcp_used", _flag(tcp) if pair.protocol else None, True),
    )
    for code, value, above in checks:
        params = rule_settings(code)
        rule_state = state.rule(code, subject)
        if value is None or threshold_quiet(rule_state, value, pair.start, params, above):
            continue
        transitions += threshold_step(
            rule_state,
            code=code,
            subject=subject,
            value=value,
            start=pair.start,
            end=pair.at,
            params=params,
            above=above,
            base_severity=CATALOGUE[code].type,
            evidence=_pair_evidence(code, pair),
        )
    return transitions


def _pair_evidence(code: str, pair: PairSample) -> dict[str, Any]:
    """What an issue of the pair's rules records (built only when one may
    change: nearly every sample changes nothing)."""
    if code == "high_rtt":
        return {"unit": "ms"}
    if code == "one_way_media":
        return {"unit": "bytes"}
    evidence: dict[str, Any] = {
        "candidate_type": pair.candidate_type,
        "protocol": pair.protocol,
        "relay_protocol": pair.relay_protocol,
    }
    if pair.relay_url:
        evidence["relay_url"] = pair.relay_url[:200]
    return evidence
