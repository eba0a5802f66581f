"""Scores: an audio MOS from the wideband E-model adapted for Opus, and a
video score. Pure functions; the table of cases each one gives, and the
listening tests they are calibrated against, are in docs/quality.md.

Audio — the wideband E-model (ITU-T G.107.1), for Opus
------------------------------------------------------

    R_WB = 129 − 1.29·Id − Ie,eff,WB                 G.107.1, Is = A = 0
    Ie,eff,WB = Ie,WB + (129 − Ie,WB) · Ppl / (Ppl + Bpl)
    MOS = G.107 Annex B of R = R_WB / 1.29           (the wideband scale
                                                     folded onto the familiar
                                                     1–4.5 MOS range)

    Ie,WB = 10    Opus as browsers run it (wideband or better, 32 kbit/s and
                  up). The narrowband scale cannot credit Opus over G.711;
                  on the wideband one 10 puts a clean Opus call at MOS 4.35
                  (4.5 is the cap), in line with the listening tests that
                  rate Opus at or above the wideband references.
    Bpl = 13      Opus's own packet-loss concealment (no FEC), fitted so that
                  5 % random loss scores ≈ 3.3 and 10 % ≈ 2.6, our reading of
                  the Opus loss tests cited in docs/quality.md.
    Ppl           the loss the LISTENER got, in percent (never a fraction):
                  the residual loss after FEC, or the audible concealment
                  the receiver measured, whichever is higher:

        recovered = clamp(ΔfecPacketsReceived − ΔfecPacketsDiscarded, 0, lost)
        residual  = 100 · (lost − recovered) / expected
        Ppl       = max(residual, concealment %)     concealment known
                  = residual                         otherwise

        Chrome's FEC counters overstate the repair: in the captured 10 %
        loss call, once FEC is on, FEC payloads received minus discarded
        cover every lost packet while 4–8 % of the samples are still
        concealed. The concealment is what the listener heard; the residual
        loss is a floor where it is not reported.

        FEC is thereby a continuous effect measured at the receiver, not a
        flag: a Bpl switched on "FEC packets arrived" made 10 % loss with FEC
        score above 5 % loss without, although the listener heard more
        concealment. Ppl rises with the loss at any recovered share, and
        with the concealment, so the MOS falls with both.

    Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)   (Cole & Rosenbluth 2001),
         ×1.29 onto the wideband scale (so a delay costs the same MOS as on
         the narrowband one)
        d   one-way mouth-to-ear delay in ms = RTT/2 + jitter-buffer delay + 20 ms
            packetisation (one Opus frame)
    Annex B: MOS = 1 + 0.035·R + 7·10⁻⁶·R·(R − 60)·(100 − R) for 0 < R < 100;
             1 below, 4.5 above.

DTX: while a speaker is silent, Opus DTX sends a packet every 400 ms instead
of every 20 ms. Those packets are not sent, not lost: loss is taken from
``packetsLost`` (sequence-number gaps), never from an expected packet rate,
and the concealment counted is the audible one (``silentConcealedSamples``
subtracted), so a silent stream scores like a talking one on the same
network.

Video — a documented heuristic
------------------------------

There is no standard parametric model for WebRTC video. We start from the
rtcscore formula (also in peermetrics and client-monitor) and add the
measurements a receiver has, each a penalty, clamped to 1–5:

    bpppf = codec factor · media bitrate / (width · height) / fps
            media bitrate: bytesReceived − retransmittedBytesReceived −
            fecBytesReceived (RTX and FEC repair loss; counted as picture
            they made a lossy stream score higher than a clean one)
            codec factor 1.2 for VP9/AV1/H.265, 1.0 otherwise
    base  = clamp(0.56 · ln(bpppf) + 5.36, 1, 5)
    score = base − 1.9 · ln(best fps / fps)           frame-rate drop
                 − 0.5 · log2(best pixels / pixels)   resolution drop (a
                                                      simulcast layer down: −1)
                 − 4 · frozen share of the interval   (25 % frozen: −1)
                 − 2 · max(0, QP / QP max − 0.5)      coarse quantisation, when
                                                      qpSum is reported
                 − 0.002 · delay ms

``best`` is the highest rate and resolution the stream reached so far (the
sender's configured ones are not in the stats). QP max is 127 for VP8, 255
for VP9/AV1, 51 for H.264/H.265.
"""

from __future__ import annotations

import math

R_WB = 129.0
WB_SCALE = 1.29
OPUS_IE_WB = 10.0
OPUS_BPL = 13.0
PACKETISATION_MS = 20.0


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id for a one-way mouth-to-ear delay (Cole & Rosenbluth), narrowband scale."""
    d = max(0.0, one_way_delay_ms)
    impairment = 0.024 * d
    if d > 177.3:
        impairment += 0.11 * (d - 177.3)
    return impairment


def effective_equipment_impairment(
    loss_pct: float, *, ie: float = OPUS_IE_WB, bpl: float = OPUS_BPL
) -> float:
    """Ie,eff,WB of G.107.1 with the loss in percent (random loss: BurstR = 1)."""
    ppl = min(max(loss_pct, 0.0), 100.0)
    return ie + (R_WB - ie) * ppl / (ppl + bpl)


def listener_loss_pct(
    *,
    loss_pct: float,
    recovered_pct: float = 0.0,
    concealment_pct: float | None = None,
) -> float:
    """Ppl: the loss the listener got, in percent (see the module docstring).
    ``recovered_pct`` is the share of all expected packets FEC recovered
    (at most ``loss_pct``)."""
    loss = min(max(loss_pct, 0.0), 100.0)
    residual = loss - min(max(recovered_pct, 0.0), loss)
    if concealment_pct is None:
        return residual
    return max(residual, min(max(concealment_pct, 0.0), 100.0))


def r_factor(*, listener_loss_pct: float, one_way_delay_ms: float) -> float:
    """R on the narrowband-equivalent scale (R_WB / 1.29)."""
    r_wb = (
        R_WB
        - WB_SCALE * delay_impairment(one_way_delay_ms)
        - effective_equipment_impairment(listener_loss_pct)
    )
    return r_wb / WB_SCALE


def mos_from_r(r: float) -> float:
    """G.107 Annex B. The cubic dips below 1 for 0 < R < 6.5 (it falls
    until R ≈ 3.2): clamped at 1 there, so the MOS never rises as R falls."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return max(1.0, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))


def audio_mos(
    *,
    loss_pct: float,
    rtt_ms: float | None,
    jitter_buffer_ms: float | None,
    recovered_pct: float = 0.0,
    concealment_pct: float | None = None,
) -> float:
    """MOS of an audio stream over an interval, rounded to 2 decimals.
    Unknown RTT or jitter-buffer delay count as 0."""
    one_way = (rtt_ms or 0.0) / 2 + (jitter_buffer_ms or 0.0) + PACKETISATION_MS
    ppl = listener_loss_pct(
        loss_pct=loss_pct, recovered_pct=recovered_pct, concealment_pct=concealment_pct
    )
    return round(mos_from_r(r_factor(listener_loss_pct=ppl, one_way_delay_ms=one_way)), 2)


_EFFICIENT_CODECS = ("vp9", "av1", "h265", "hevc")
_QP_MAX = {"vp8": 127.0, "vp9": 255.0, "av1": 255.0, "h264": 51.0, "h265": 51.0, "hevc": 51.0}


def _codec_name(codec: str | None) -> str:
    return codec.lower().split("/")[-1] if codec else ""


def video_score(
    *,
    bitrate: float,
    width: float,
    height: float,
    fps: float,
    expected_fps: float,
    delay_ms: float = 0.0,
    codec: str | None = None,
    best_pixels: float | None = None,
    frozen_share: float | None = None,
    qp: float | None = None,
) -> float | None:
    """Video score 1–5 (see the module docstring); None when the stream
    carried no frames or no media bits. ``bitrate`` is the media bitrate
    (RTX and FEC excluded)."""
    if bitrate <= 0 or width <= 0 or height <= 0 or fps <= 0:
        return None
    name = _codec_name(codec)
    factor = 1.2 if name in _EFFICIENT_CODECS else 1.0
    pixels = width * height
    bpppf = factor * bitrate / pixels / fps
    base = min(max(0.56 * math.log(bpppf) + 5.36, 1.0), 5.0)
    expected = max(expected_fps, fps)
    score = base - 1.9 * math.log(expected / fps) - 0.002 * max(delay_ms, 0.0)
    if best_pixels is not None and best_pixels > pixels:
        score -= 0.5 * math.log2(best_pixels / pixels)
    if frozen_share is not None:
        score -= 4.0 * min(max(frozen_share, 0.0), 1.0)
    qp_max = _QP_MAX.get(name)
    if qp is not None and qp_max is not None:
        score -= 2.0 * max(0.0, min(qp / qp_max, 1.0) - 0.5)
    return round(min(max(score, 1.0), 5.0), 2)
