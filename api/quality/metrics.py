"""Per-track metrics from one SDK stats sample.

Every getStats counter is cumulative, so rates need the previous report of
the same stats ``id``: the caller passes the counters it kept from the
previous sample of the connection (``previous``) and gets back the ones to
keep for the next (``Extraction.counters``). No database access here.

Interval rules (quality-rules.md, conventions):

* Δt comes from the reports' own ``timestamp`` (the browser clock), the
  server time of the sample only when a report has none.
* No previous report, Δt ≤ 0, or Δt > 2 × the stats interval → no rates for
  this report (a first sample). We do not compute rates over a longer gap:
  after a restart, or when another worker got the samples in between, an
  average over minutes would blur exactly the trouble detectors look for.
  Instantaneous values (jitter, RTT, resolution, limitation reason) are
  still recorded. Except when the longer gap is the stream's cadence (the
  gap before it was as long): a session told a longer interval, while its
  app is over budget or the server is overloaded, gets its rates over it.
* A counter that went backwards (a reset: new SSRC behind the same id, a
  renegotiation) → no rates for this report; the new value is the new base.
* A report older than the one we hold (a late retry) is recorded without
  rates and does not replace the newer counters.

Units: bit/s, packets/s, percent, milliseconds, frames/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import isfinite
from typing import Any

from api.quality import mos

KINDS = ("audio", "video")
DIRECTIONS = ("inbound", "outbound")

# Counters kept per stats id, by (kind, direction): report key → short
# name. Each kind reads only its own (a report has ~20 more numbers).
_COMMON_INBOUND = {
    "bytesReceived": "bytes",
    "packetsReceived": "packets",
    "packetsLost": "lost",
    "jitterBufferDelay": "jbd",
    "jitterBufferEmittedCount": "jbe",
}
_COUNTERS = {
    ("audio", "inbound"): {
        **_COMMON_INBOUND,
        "concealedSamples": "concealed",
        "silentConcealedSamples": "silent",
        "totalSamplesReceived": "samples",
        "insertedSamplesForDeceleration": "inserted",
        "removedSamplesForAcceleration": "removed",
        # Opus in-band FEC: payloads inside media packets (their bytes are media).
        "fecPacketsReceived": "fec",
        "fecPacketsDiscarded": "fec_discarded",
    },
    ("video", "inbound"): {
        **_COMMON_INBOUND,
        # RTX and FEC (ulpfec/flexfec) repair bytes, not picture.
        "retransmittedBytesReceived": "rtx_bytes",
        "fecBytesReceived": "fec_bytes",
        "framesDecoded": "decoded",
        "framesReceived": "received",
        "freezeCount": "freezes",
        "totalFreezesDuration": "freeze_s",
        "qpSum": "qp",
        "pliCount": "pli",
    },
    ("audio", "outbound"): {"bytesSent": "bytes", "packetsSent": "packets"},
    ("video", "outbound"): {
        "bytesSent": "bytes",
        "retransmittedBytesSent": "rtx_bytes",
        "packetsSent": "packets",
        "framesSent": "sent_frames",
    },
}


def num(value: Any) -> float | None:
    """A finite number from a report value, else None (bools are not numbers)."""
    # Called ~90 times per sample: the plain floats and ints a JSON decoder
    # gives are recognised by their exact type before the general checks.
    kind = type(value)
    if kind is float:
        return value if isfinite(value) else None
    if kind is int:
        return float(value)
    if kind is bool or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if isfinite(value) else None


def _numbers(report: dict, names: dict[str, str]) -> dict[str, float | None]:
    """``num`` of each counter a stream keeps, by its short name: the ~10
    values of every report in one loop (the hottest of the analysis)."""
    values: dict[str, float | None] = {}
    for key, short in names.items():
        value: Any = report.get(key)
        kind = type(value)
        if kind is int:
            values[short] = float(value)
        elif kind is float:
            values[short] = value if isfinite(value) else None
        else:
            values[short] = None if value is None else num(value)
    return values


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# Slots: four of these per sample, each with ~40 attributes, and the
# detectors read them a dozen times each.
@dataclass(slots=True)
class StreamSample:
    """What one inbound/outbound report says about its interval."""

    stats_id: str
    kind: str
    direction: str
    ident: str | None
    track_id: Any
    start: datetime
    at: datetime
    interval_s: float | None = None
    bitrate: float | None = None
    packet_rate: float | None = None
    packets: int | None = None
    packets_lost: int | None = None
    loss_pct: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None
    jitter_buffer_ms: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    freeze_count: int | None = None
    freeze_ms: float | None = None
    concealment_pct: float | None = None
    limitation: str | None = None
    mos: float | None = None
    video_score: float | None = None
    # Used by detectors, not stored.
    bytes_delta: float | None = None
    had_traffic: bool = False
    active: bool | None = None
    samples_delta: float | None = None
    stretch_pct: float | None = None
    frames_decoded: float | None = None
    frames_received: float | None = None
    pli_rate: float | None = None
    # Share of the expected packets in-band FEC recovered, in percent.
    fec_recovered_pct: float | None = None
    # Mean QP of the frames decoded in the interval (qpSum / frames).
    qp: float | None = None
    cpu_share: float | None = None
    bandwidth_share: float | None = None
    codec: str | None = None
    _subject: str | None = field(default=None, repr=False, compare=False)

    # Cached: every rule of the stream names its subject (and formatting the
    # track's UUID each time cost more than the rule itself).
    @property
    def subject(self) -> str:
        subject = self._subject
        if subject is None:
            if self.track_id is not None:
                subject = f"track:{self.track_id}"
            else:
                subject = f"stream:{self.stats_id}"[:128]
            self._subject = subject
        return subject


@dataclass(slots=True)
class PairSample:
    """The selected candidate pair of the connection in this sample."""

    pair_id: str
    start: datetime
    at: datetime
    rtt_ms: float | None = None
    bytes_sent_delta: float | None = None
    bytes_received_delta: float | None = None
    had_received: bool = False
    candidate_type: str | None = None
    protocol: str | None = None
    relay_protocol: str | None = None
    relay_url: str | None = None


@dataclass
class Extraction:
    streams: list[StreamSample] = field(default_factory=list)
    pair: PairSample | None = None
    counters: dict[str, dict] = field(default_factory=dict)
    # Some stream has sent or received bytes: the connection is established.
    media_flowed: bool = False


def _track_ident(report: dict) -> str | None:
    ident = report.get("trackIdentifier")
    if not ident:
        ident = _dict(report.get("track")).get("trackIdentifier")
    return ident if isinstance(ident, str) and 0 < len(ident) <= 64 else None


def report_tracks(data: dict) -> dict[tuple[str, str], str]:
    """(direction, track identifier) → kind, for every inbound/outbound report
    of a sample that names its track (inbound reports carry
    ``trackIdentifier``; outbound ones carry their media-source as
    ``track``): the tracks whose ids :func:`sample_extract` needs."""
    named: dict[tuple[str, str], str] = {}
    for kind in KINDS:
        section = data.get(kind)
        if not isinstance(section, dict):
            continue
        for direction in DIRECTIONS:
            reports = section.get(direction)
            if not isinstance(reports, list):
                continue
            for report in reports:
                if isinstance(report, dict) and (ident := _track_ident(report)):
                    named[(direction, ident)] = kind
    return named


def _remote_by_local_id(data: dict) -> dict[str, dict]:
    """remote-inbound/remote-outbound reports by the id of the local report
    they describe (``localId``)."""
    found: dict[str, dict] = {}
    remote = _dict(data.get("remote"))
    for kind in KINDS:
        section = _dict(remote.get(kind))
        for direction in DIRECTIONS:
            for report in _list(section.get(direction)):
                local_id = report.get("localId")
                if isinstance(local_id, str):
                    found[local_id] = report
    return found


# The longest interval a session is ever told (api.ingest.views: 600 s).
_CADENCE_MAX_S = 600.0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _interval(
    report_ts: float | None, prev: dict | None, limit_s: float
) -> tuple[float | None, bool, float | None]:
    """Δt of one report since its previous one (None: no rates, see the
    module docstring), whether the report is newer than that one, and the
    gap itself (kept, to tell a cadence from a hole).

    A gap past ``limit_s`` still gives rates when it is the stream's
    cadence: the gap before it was as long (within a quarter). That is a
    session told a longer getStatsInterval (an app over its budget, a
    server sampling under overload), not a hole in a call."""
    before = prev.get("ts") if prev is not None else None
    if report_ts is None or before is None:
        return None, True, None
    dt = (report_ts - before) / 1000.0
    if dt <= 0:
        return None, False, None
    if dt <= limit_s:
        return dt, True, dt
    last = prev.get("gap") if prev is not None else None
    cadence = last is not None and abs(dt - last) <= 0.25 * last and dt <= _CADENCE_MAX_S
    return (dt if cadence else None), True, dt


def sample_extract(
    *,
    data: dict,
    at: datetime,
    interval_s: float,
    previous: dict[str, dict],
    track_ids: dict[tuple[str, str, str], Any],
) -> Extraction:
    """Metrics of every inbound/outbound report of a sample (see the module
    docstring). ``previous`` is not modified."""
    out = Extraction(counters=dict(previous))
    limit_s = 2.0 * interval_s
    remotes = _remote_by_local_id(data)
    pair = _pair_extract(
        data=data, at=at, interval_s=interval_s, previous=previous, counters=out.counters
    )
    out.pair = pair
    connection_rtt = pair.rtt_ms if pair else None
    if connection_rtt is None:
        rtts = [
            _ms(num(r.get("roundTripTime")))
            for r in remotes.values()
            if r.get("type") == "remote-inbound-rtp"
        ]
        known = [r for r in rtts if r is not None]
        connection_rtt = sum(known) / len(known) if known else None

    counters = out.counters
    for kind in KINDS:
        section = data.get(kind)
        if not isinstance(section, dict):
            continue
        for direction in DIRECTIONS:
            reports = section.get(direction)
            if not isinstance(reports, list):
                continue
            for report in reports:
                if not isinstance(report, dict):
                    continue
                stats_id = report.get("id")
                if not isinstance(stats_id, str) or not stats_id:
                    continue
                ident = _track_ident(report)
                _stream_extract(
                    out,
                    report,
                    stats_id,
                    kind,
                    direction,
                    ident,
                    track_ids.get((direction, kind, ident)) if ident else None,
                    at,
                    interval_s,
                    limit_s,
                    previous.get(stats_id),
                    remotes.get(stats_id),
                    connection_rtt,
                    counters,
                    previous,
                )
    return out


def _pair_extract(
    *, data: dict, at: datetime, interval_s: float, previous: dict, counters: dict
) -> PairSample | None:
    pair = _dict(data.get("connection"))
    pair_id = pair.get("id")
    if not isinstance(pair_id, str) or pair.get("type") not in (None, "candidate-pair"):
        return None
    key = f"pair:{pair_id}"
    prev = previous.get(key)
    ts = num(pair.get("timestamp"))
    dt, newer, gap = _interval(ts, prev, 2.0 * interval_s)
    local = _dict(pair.get("local"))
    sample = PairSample(
        pair_id=pair_id,
        start=at - timedelta(seconds=dt or interval_s),
        at=at,
        rtt_ms=_ms(num(pair.get("currentRoundTripTime"))),
        candidate_type=local.get("candidateType")
        if isinstance(local.get("candidateType"), str)
        else None,
        protocol=local.get("protocol") if isinstance(local.get("protocol"), str) else None,
        relay_protocol=(
            local.get("relayProtocol") if isinstance(local.get("relayProtocol"), str) else None
        ),
        relay_url=local.get("url") if isinstance(local.get("url"), str) else None,
    )
    sent = num(pair.get("bytesSent"))
    received = num(pair.get("bytesReceived"))
    had_received = bool(prev and prev.get("had_received"))
    if dt is not None and prev:
        d_sent = _delta(sent, prev.get("sent"))
        d_received = _delta(received, prev.get("received"))
        if d_sent is not None and d_received is not None:
            sample.bytes_sent_delta = d_sent
            sample.bytes_received_delta = d_received
    sample.had_received = had_received
    if newer:
        counters[key] = {
            "ts": ts,
            "gap": gap,
            "sent": sent,
            "received": received,
            "had_received": had_received or bool(received and received > 0),
        }
    return sample


def _delta(value: float | None, before: float | None) -> float | None:
    if value is None or before is None:
        return None
    return value - before


def _stream_extract(
    out: Extraction,
    report: dict,
    stats_id: str,
    kind: str,
    direction: str,
    ident: str | None,
    track_id: Any,
    at: datetime,
    interval_s: float,
    limit_s: float,
    prev: dict | None,
    remote: dict | None,
    connection_rtt: float | None,
    counters: dict,
    previous: dict,
) -> None:
    """Append the stream's sample to ``out`` (the hottest function of the
    analysis: arguments by position, counters and their deltas in one
    loop)."""
    inbound = direction == "inbound"
    names = _COUNTERS[(kind, direction)]
    ts = num(report.get("timestamp"))
    dt, newer, gap = _interval(ts, prev, limit_s)

    deltas: dict[str, float | None] = {}
    if dt is not None and prev is not None:
        values: dict[str, float | None] = {}
        before_of = prev.get
        for key, short in names.items():
            value: Any = report.get(key)
            value_type = type(value)
            if value_type is int:
                value = float(value)
            elif value_type is float:
                if not isfinite(value):
                    value = None
            elif value is not None:
                value = num(value)
            values[short] = value
            before = before_of(short)
            deltas[short] = None if value is None or before is None else value - before
        # Fewer bytes or packets than before: the stream was reset. (Other
        # counters, e.g. packetsLost, may legitimately go down: duplicates
        # are subtracted.)
        if (deltas["bytes"] or 0) < 0 or (deltas["packets"] or 0) < 0:
            dt, deltas = None, {}
    else:
        values = _numbers(report, names)
    traffic = values["bytes"]
    if traffic and traffic > 0:
        out.media_flowed = True

    mime = report.get("mimeType")
    sample = StreamSample(
        stats_id=stats_id,
        kind=kind,
        direction=direction,
        ident=ident,
        track_id=track_id,
        start=at - timedelta(seconds=dt or interval_s),
        at=at,
        interval_s=round(dt, 3) if dt is not None else None,
        codec=mime if isinstance(mime, str) else None,
        had_traffic=bool(prev and prev.get("had_traffic")),
    )
    active = report.get("active")
    if isinstance(active, bool):
        sample.active = active
    width, height = num(report.get("frameWidth")), num(report.get("frameHeight"))
    sample.width = int(width) if width is not None and 0 < width < 32768 else None
    sample.height = int(height) if height is not None and 0 < height < 32768 else None

    if dt is not None:
        d_bytes, d_packets = deltas.get("bytes"), deltas.get("packets")
        if d_bytes is not None:
            # Media bytes: retransmissions (RTX) and FEC repair what was
            # lost; counted as media they read as a higher bitrate under loss.
            repair = max(deltas.get("rtx_bytes") or 0.0, 0.0) + max(
                deltas.get("fec_bytes") or 0.0, 0.0
            )
            d_bytes = max(d_bytes - repair, 0.0)
            sample.bytes_delta = d_bytes
            sample.bitrate = d_bytes * 8 / dt
        if d_packets is not None:
            sample.packets = int(d_packets)
            sample.packet_rate = d_packets / dt

    if inbound:
        _inbound_fill(sample, report, remote, deltas, dt)
        if sample.rtt_ms is None:
            sample.rtt_ms = connection_rtt
        if kind == "audio" and sample.loss_pct is not None:
            sample.mos = mos.audio_mos(
                loss_pct=sample.loss_pct,
                rtt_ms=sample.rtt_ms,
                jitter_buffer_ms=sample.jitter_buffer_ms,
                recovered_pct=sample.fec_recovered_pct or 0.0,
                concealment_pct=sample.concealment_pct,
            )
        if kind == "video" and sample.fps and sample.bitrate and sample.width and sample.height:
            best_fps = max(prev.get("best_fps") or 0.0, sample.fps) if prev else sample.fps
            sample.video_score = mos.video_score(
                bitrate=sample.bitrate,
                width=sample.width,
                height=sample.height,
                fps=sample.fps,
                expected_fps=min(best_fps, 60.0),
                delay_ms=(sample.rtt_ms or 0.0) / 2 + (sample.jitter_buffer_ms or 0.0),
                codec=sample.codec,
                best_pixels=prev.get("best_pixels") if prev else None,
                frozen_share=(sample.freeze_ms / 1000.0 / dt)
                if sample.freeze_ms is not None and dt
                else None,
                qp=sample.qp,
            )
    else:
        _outbound_fill(sample, report, remote, deltas, dt, previous, counters)
        if sample.rtt_ms is None:
            sample.rtt_ms = connection_rtt

    if newer:
        kept = {"ts": ts, "gap": gap, **values}
        kept["had_traffic"] = sample.had_traffic or bool(traffic and traffic > 0)
        best = prev.get("best_fps") if prev else None
        if sample.fps is not None:
            best = max(best or 0.0, sample.fps)
        kept["best_fps"] = best
        if sample.width and sample.height:
            pixels = float(sample.width * sample.height)
            kept["best_pixels"] = max((prev.get("best_pixels") if prev else None) or 0.0, pixels)
        elif prev and prev.get("best_pixels"):
            kept["best_pixels"] = prev["best_pixels"]
        ql = report.get("qualityLimitationDurations")
        if isinstance(ql, dict):  # outbound video only
            kept["ql_cpu"], kept["ql_bandwidth"] = num(ql.get("cpu")), num(ql.get("bandwidth"))
        else:
            kept["ql_cpu"] = kept["ql_bandwidth"] = None
        counters[stats_id] = kept
    out.streams.append(sample)


def _inbound_fill(
    sample: StreamSample, report: dict, remote: dict | None, deltas: dict, dt: float | None
) -> None:
    sample.jitter_ms = _ms(num(report.get("jitter")))
    if remote is not None and num(remote.get("roundTripTime")) is not None:
        # remote-outbound-rtp carries an RTT only when the sender sends DLRR.
        measurements = num(remote.get("roundTripTimeMeasurements"))
        if measurements is None or measurements > 0:
            sample.rtt_ms = _ms(num(remote.get("roundTripTime")))
    if dt is None:
        if sample.kind == "video":
            sample.fps = num(report.get("framesPerSecond"))
        return
    d_packets, d_lost = deltas.get("packets"), deltas.get("lost")
    if d_packets is not None and d_lost is not None:
        # packetsLost may go down (late duplicates); a negative interval is 0.
        lost = max(d_lost, 0.0)
        sample.packets_lost = int(lost)
        expected = d_packets + lost
        if expected > 0:
            sample.loss_pct = round(100.0 * lost / expected, 3)
            # In-band FEC: FEC payloads received and not discarded repaired
            # a lost packet (W3C: discarded = not needed, or too late).
            d_fec = deltas.get("fec")
            if d_fec is not None and d_fec > 0 and lost > 0:
                used = d_fec - max(deltas.get("fec_discarded") or 0.0, 0.0)
                sample.fec_recovered_pct = 100.0 * min(max(used, 0.0), lost) / expected
    d_jbd, d_jbe = deltas.get("jbd"), deltas.get("jbe")
    if d_jbd is not None and d_jbe and d_jbe > 0 and d_jbd >= 0:
        sample.jitter_buffer_ms = 1000.0 * d_jbd / d_jbe
    d_pli = deltas.get("pli")
    if d_pli is not None and d_pli >= 0:
        sample.pli_rate = d_pli / dt
    if sample.kind == "audio":
        d_samples = deltas.get("samples")
        d_concealed, d_silent = deltas.get("concealed"), deltas.get("silent")
        if d_samples and d_samples > 0:
            sample.samples_delta = d_samples
            if d_concealed is not None:
                audible = max(d_concealed - (d_silent or 0.0), 0.0)
                sample.concealment_pct = round(100.0 * audible / d_samples, 3)
            d_inserted, d_removed = deltas.get("inserted"), deltas.get("removed")
            if d_inserted is not None and d_removed is not None:
                stretched = max(d_inserted, 0.0) + max(d_removed, 0.0)
                sample.stretch_pct = round(100.0 * stretched / d_samples, 3)
    else:
        d_decoded, d_received = deltas.get("decoded"), deltas.get("received")
        if d_decoded is not None and d_decoded >= 0:
            sample.frames_decoded = d_decoded
            sample.fps = d_decoded / dt
            d_qp = deltas.get("qp")
            if d_qp is not None and d_qp >= 0 and d_decoded > 0:
                sample.qp = d_qp / d_decoded
        else:
            sample.fps = num(report.get("framesPerSecond"))
        if d_received is not None and d_received >= 0:
            sample.frames_received = d_received
        d_freezes, d_freeze_s = deltas.get("freezes"), deltas.get("freeze_s")
        if d_freezes is not None and d_freezes >= 0:
            sample.freeze_count = int(min(d_freezes, 32767))
        if d_freeze_s is not None and d_freeze_s >= 0:
            sample.freeze_ms = 1000.0 * d_freeze_s


def _outbound_fill(
    sample: StreamSample,
    report: dict,
    remote: dict | None,
    deltas: dict,
    dt: float | None,
    previous: dict,
    counters: dict,
) -> None:
    reason = report.get("qualityLimitationReason")
    if isinstance(reason, str) and reason in {"none", "cpu", "bandwidth", "other"}:
        sample.limitation = reason
    if remote is not None:
        # The receiver's view of what we send (RTCP receiver reports).
        sample.rtt_ms = _ms(num(remote.get("roundTripTime")))
        sample.jitter_ms = _ms(num(remote.get("jitter")))
        fraction = num(remote.get("fractionLost"))
        if fraction is not None and 0 <= fraction <= 1:
            sample.loss_pct = round(100.0 * fraction, 3)
        remote_id = remote.get("id")
        lost = num(remote.get("packetsLost"))
        if isinstance(remote_id, str):
            key = f"remote:{remote_id}"
            before = _dict(previous.get(key)).get("lost")
            if dt is not None and lost is not None and before is not None:
                sample.packets_lost = int(max(lost - before, 0.0))
            counters[key] = {"lost": lost}
    if dt is None:
        if sample.kind == "video":
            sample.fps = num(report.get("framesPerSecond"))
        return
    if sample.kind == "video":
        d_frames = deltas.get("sent_frames")
        if d_frames is not None and d_frames >= 0:
            sample.fps = d_frames / dt
        else:
            sample.fps = num(report.get("framesPerSecond"))
        ql = _dict(report.get("qualityLimitationDurations"))
        # The kept durations went through num() when they were kept.
        prev = previous.get(sample.stats_id) or {}
        sample.cpu_share = _limited_share(
            "cpu", num(ql.get("cpu")), prev.get("ql_cpu"), dt=dt, limitation=sample.limitation
        )
        sample.bandwidth_share = _limited_share(
            "bandwidth",
            num(ql.get("bandwidth")),
            prev.get("ql_bandwidth"),
            dt=dt,
            limitation=sample.limitation,
        )


def _limited_share(
    reason: str,
    now_s: float | None,
    before_s: float | None,
    *,
    dt: float,
    limitation: str | None,
) -> float | None:
    """Share of the interval the encoder was limited by ``reason``."""
    if now_s is not None and before_s is not None and now_s >= before_s:
        return min((now_s - before_s) / dt, 1.0)
    if now_s is None and limitation is not None:
        # No durations: fall back to the reason at sampling time.
        return 1.0 if limitation == reason else 0.0
    return None
