"""Scores: an audio MOS from the ITU-T G.107 E-model, and a video score.

Audio — the E-model, simplified for WebRTC
------------------------------------------

    R = R0 − Id − Ie,eff                         (G.107 §3, Is = A = 0)
    R0 = 93.2                                    G.107 default Ro − Is, the narrowband scale
    Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl)    (G.107 eq. 7-29)
        Ppl    packet loss in PERCENT over the interval (the original server
               passed a fraction here, so 5 % loss barely moved its score)
        BurstR 1 (random loss: getStats does not expose burstiness)
        Ie     0 for Opus. On the narrowband scale G.711 is the Ie = 0
               reference, and Opus at the rates browsers use (wideband or
               better) is at least as good; the scale cannot credit more.
               Using the wideband scale (G.107.1, R0 = 129) would raise the
               ceiling, but MOS values would then not compare with the
               familiar 4.4 ceiling of narrowband tools.
        Bpl    10 for Opus without FEC, 20 when in-band FEC packets were
               received in the interval (the values rtcscore/peermetrics use;
               G.113 lists 25.1 for G.711 with PLC, Opus has no ITU entry).
    Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)  (Cole & Rosenbluth 2001, the common
                                                 fit of G.107's delay impairment)
        d   one-way mouth-to-ear delay in ms = RTT/2 + jitter-buffer delay + 20 ms
            packetisation (one Opus frame)
    MOS = 1 + 0.035·R + 7·10⁻⁶·R·(R − 60)·(100 − R)   for 0 < R < 100 (G.107 Annex B);
          1 below, 4.5 above.

DTX: while a speaker is silent, Opus DTX sends a packet every 400 ms instead
of every 20 ms. Those packets are not sent, not lost: loss is taken from
``packetsLost`` (sequence-number gaps), never from an expected packet rate,
and Ie does not depend on the bitrate, so a silent stream scores like a
talking one on the same network.

Video — a documented heuristic
------------------------------

There is no standard parametric model for WebRTC video; we use the formula
of rtcscore (also in peermetrics and client-monitor), clamped to 1–5:

    bpppf = codec factor · bitrate / (width · height) / fps      bits per pixel per frame
            codec factor 1.2 for VP9/AV1/H.265, 1.0 otherwise (better compression)
    base  = clamp(0.56 · ln(bpppf) + 5.36, 1, 5)
    score = base − 1.9 · ln(expected fps / fps) − 0.002 · delay ms

``expected fps`` is the highest rate the stream reached so far (the sender's
configured rate is not in the stats), so a drop from 30 to 15 fps costs
1.9·ln 2 ≈ 1.3 points; ``delay`` is RTT/2 plus the video jitter buffer.
"""

from __future__ import annotations

import math

R0 = 93.2
OPUS_IE = 0.0
OPUS_BPL = 10.0
OPUS_BPL_FEC = 20.0
PACKETISATION_MS = 20.0


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id for a one-way mouth-to-ear delay (Cole & Rosenbluth)."""
    d = max(0.0, one_way_delay_ms)
    impairment = 0.024 * d
    if d > 177.3:
        impairment += 0.11 * (d - 177.3)
    return impairment


def effective_equipment_impairment(
    loss_pct: float, *, ie: float = OPUS_IE, bpl: float = OPUS_BPL, burst_ratio: float = 1.0
) -> float:
    """Ie,eff of G.107 with the loss in percent."""
    ppl = min(max(loss_pct, 0.0), 100.0)
    return ie + (95.0 - ie) * ppl / (ppl / burst_ratio + bpl)


def r_factor(*, loss_pct: float, one_way_delay_ms: float, fec: bool = False) -> float:
    bpl = OPUS_BPL_FEC if fec else OPUS_BPL
    return (
        R0
        - delay_impairment(one_way_delay_ms)
        - effective_equipment_impairment(loss_pct, ie=OPUS_IE, bpl=bpl)
    )


def mos_from_r(r: float) -> float:
    """G.107 Annex B."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)


def audio_mos(
    *,
    loss_pct: float,
    rtt_ms: float | None,
    jitter_buffer_ms: float | None,
    fec: bool = False,
) -> float:
    """MOS of an audio stream over an interval, rounded to 2 decimals.
    Unknown RTT or jitter-buffer delay count as 0."""
    one_way = (rtt_ms or 0.0) / 2 + (jitter_buffer_ms or 0.0) + PACKETISATION_MS
    return round(mos_from_r(r_factor(loss_pct=loss_pct, one_way_delay_ms=one_way, fec=fec)), 2)


_EFFICIENT_CODECS = ("vp9", "av1", "h265", "hevc")


def video_score(
    *,
    bitrate: float,
    width: float,
    height: float,
    fps: float,
    expected_fps: float,
    delay_ms: float = 0.0,
    codec: str | None = None,
) -> float | None:
    """Video score 1–5 (see the module docstring); None when the stream
    carried no frames or no bits."""
    if bitrate <= 0 or width <= 0 or height <= 0 or fps <= 0:
        return None
    factor = 1.2 if codec and codec.lower().split("/")[-1] in _EFFICIENT_CODECS else 1.0
    bpppf = factor * bitrate / (width * height) / fps
    base = min(max(0.56 * math.log(bpppf) + 5.36, 1.0), 5.0)
    expected = max(expected_fps, fps)
    score = base - 1.9 * math.log(expected / fps) - 0.002 * max(delay_ms, 0.0)
    return round(min(max(score, 1.0), 5.0), 2)
