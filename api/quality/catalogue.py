"""The issue catalogue: every issue code with its default type, title and
explanation, and where its rule comes from.

The first twelve codes and titles are the original peermetrics server's
(reference §5.5), so dashboards and scripts written against it keep working;
their explanations are ours where the original had none or a typo. The
detector of each code is named in ``detector``; thresholds live in
:mod:`api.quality.conf`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

WARNING = "warning"
ERROR = "error"


@dataclass(frozen=True)
class IssueKind:
    code: str
    type: str
    title: str
    explanation: str
    source: str


_KINDS = [
    # -- the original server's twelve codes, same codes and titles
    IssueKind(
        "no_media_access",
        ERROR,
        "Could not access any media device",
        "The app could not access any input device from the browser during a session.",
        "peermetrics no_media_access (checked once, at the end of the session)",
    ),
    IssueKind(
        "ice_failed",
        ERROR,
        "Connection could not be established",
        "The user could not find any suitable ICE candidates to establish a connection to "
        "another participant or a SFU.",
        "peermetrics ice_failed; client-monitor ice-connection-failed",
    ),
    IssueKind(
        "no_connection",
        ERROR,
        "The participant could not establish a connection",
        "There was a session for this participant that no connection could be established to "
        "another participant or a SFU.",
        "peermetrics no_connection with the evidence rules of api PR #30",
    ),
    IssueKind(
        "very_low_emos",
        ERROR,
        "The participant had a very bad experience during the conference",
        "Due to network conditions, this participant had a poor experience with incoming "
        "content. Causes might have been robotic audio, frozen video, etc.",
        "ITU-T G.107.1 wideband E-model MOS for Opus (api.quality.mos); G.109 'nearly all users dissatisfied' (R < 60)",
    ),
    IssueKind(
        "getusermedia_error",
        WARNING,
        "Problem accessing media",
        "The user had a problem accessing the mic/camera of the device.",
        "peermetrics getusermedia_error",
    ),
    IssueKind(
        "icecandidateerror",
        WARNING,
        "ICE candidate error",
        "Gathering a candidate failed (e.g. a STUN or TURN server did not answer); the "
        "connection may still succeed over other candidates.",
        "peermetrics icecandidateerror",
    ),
    IssueKind(
        "connection_disconnected",
        WARNING,
        "Connection disconnected",
        "A user temporarily lost the connection (it stayed disconnected longer than the grace "
        "period).",
        "peermetrics connection_disconnected; client-monitor IceConnectivityDetector (> 5 s)",
    ),
    IssueKind(
        "connection_failed",
        ERROR,
        "Connection failed",
        "The peer connection failed: media stopped and the browser gave up on it.",
        "peermetrics connection_failed (stored as an error there too)",
    ),
    IssueKind(
        "multiple_rejoins",
        WARNING,
        "Multiple rejoins",
        "A user joined the conference more than once (e.g. reloaded the page during the call).",
        "peermetrics multiple_rejoins; callstats highChurn",
    ),
    IssueKind(
        "tcp_used",
        WARNING,
        "Media sent over TCP",
        "Participant used the TCP protocol to transfer media instead of UDP.",
        "peermetrics tcp_used; rtcstats relayProtocol",
    ),
    IssueKind(
        "turn_used",
        WARNING,
        "Connection relayed through a TURN server",
        "The participant might be behind an asymmetric NAT and connection could not be "
        "established directly.",
        "peermetrics turn_used",
    ),
    IssueKind(
        "low_emos",
        WARNING,
        "Participant had a less than ideal experience",
        "During the conference, the participant might have experienced periods of bad "
        "incoming audio quality or frozen video.",
        "ITU-T G.107.1 wideband E-model MOS for Opus (api.quality.mos); G.109 'many users dissatisfied' (R < 70)",
    ),
    # -- network
    IssueKind(
        "high_packet_loss",
        WARNING,
        "High packet loss",
        "Incoming media lost more packets than it can hide; audio gets choppy and video "
        "blocky or frozen.",
        "Twilio Voice Insights high-packet-loss (avg > 3 %, clear <= 1 %); Pexip loss tiers "
        "(>= 10 % terrible)",
    ),
    IssueKind(
        "high_jitter",
        WARNING,
        "High jitter",
        "Packets arrive at uneven intervals; the jitter buffer grows and adds delay.",
        "Twilio Voice Insights high-jitter (> 30 ms); Teams CQD (> 30 ms poor)",
    ),
    IssueKind(
        "high_rtt",
        WARNING,
        "High round-trip time",
        "The network round trip is long; conversation becomes awkward (talk-over).",
        "Twilio Voice Insights high-rtt (> 400 ms); ITU-T G.114 (> 400 ms one-way unacceptable)",
    ),
    IssueKind(
        "one_way_media",
        ERROR,
        "One-way media",
        "The connection sends media but receives nothing although media flowed before.",
        "client-monitor transport stalled (> 5 s); twilio-voice.js low-bytes-received",
    ),
    IssueKind(
        "dry_inbound_track",
        WARNING,
        "Incoming media stopped",
        "An incoming track stopped receiving data although its sender did not stop or mute it.",
        "client-monitor DryInboundTrackDetector (> 5 s)",
    ),
    IssueKind(
        "dry_outbound_track",
        WARNING,
        "Outgoing media stopped",
        "An outgoing track stopped sending data although it was not stopped, muted or paused.",
        "client-monitor DryOutboundTrackDetector (> 5 s); twilio-voice.js low-bytes-sent",
    ),
    # -- connectivity
    IssueKind(
        "slow_connection_setup",
        WARNING,
        "Slow connection setup",
        "The first negotiation of the connection took longer than expected to connect.",
        "client-monitor LongPcConnectionEstablishment (> 5 s); peermetrics setup-time buckets",
    ),
    # -- audio
    IssueKind(
        "audio_concealment",
        WARNING,
        "Audible audio concealment",
        "The receiver had to synthesize a noticeable share of the audio to hide missing or "
        "late packets (robotic or choppy sound).",
        "client-monitor AudioConcealmentDetector (> 3 % raise, > 5 % severe, < 1 % clear), "
        "after Webex voice quality monitoring",
    ),
    IssueKind(
        "audio_desync",
        WARNING,
        "Audio playout drift",
        "The receiver kept stretching or compressing audio to follow the network; voices sound "
        "sped up or slowed down.",
        "client-monitor AudioDesyncDetector (> 10 % raise, < 5 % clear)",
    ),
    # -- video
    IssueKind(
        "video_freeze",
        WARNING,
        "Video froze",
        "Incoming video stopped moving for a noticeable time.",
        "W3C webrtc-stats freezeCount/totalFreezesDuration; client-monitor "
        "FreezedVideoTrackDetector",
    ),
    IssueKind(
        "low_frame_rate",
        WARNING,
        "Low video frame rate",
        "Incoming video played at a low frame rate.",
        "Microsoft Teams CQD (< 7 fps poor for camera video)",
    ),
    IssueKind(
        "video_decode_overload",
        WARNING,
        "Video decoding falls behind",
        "The receiver decoded far fewer frames than it received; its CPU is likely overloaded.",
        "client-monitor CpuPerformanceDetector (decoded/received < 0.7 raise, > 0.85 clear)",
    ),
    IssueKind(
        "keyframe_storm",
        WARNING,
        "Frequent keyframe requests",
        "The receiver kept asking for keyframes (PLI); video recovers from losses slowly.",
        "client-monitor keyframe storm (> 0.5 PLI/s raise, < 0.15 PLI/s clear)",
    ),
    IssueKind(
        "cpu_limited_sending",
        WARNING,
        "Video sending limited by CPU",
        "The sender lowered its video resolution or frame rate because its CPU is overloaded.",
        "W3C qualityLimitationReason/Durations; client-monitor (CPU share > 0.3)",
    ),
    IssueKind(
        "bandwidth_limited_sending",
        WARNING,
        "Video sending limited by bandwidth",
        "The sender lowered its video quality because the estimated bandwidth is too low.",
        "W3C qualityLimitationReason/Durations; client-monitor CongestionDetector",
    ),
    # -- diagnoses: one per cause, the detectors' issues above linked as its
    # symptoms (api.quality.diagnosis)
    IssueKind(
        "uplink_loss",
        WARNING,
        "A participant's uplink lost packets",
        "Every receiver of this participant's media lost packets of it, and the "
        "participant's own receiver reports agree: its network towards the others is the "
        "likely cause.",
        "cross-participant attribution (every receiver of A sees loss on A's tracks, A's "
        "remote-inbound-rtp agrees)",
    ),
    IssueKind(
        "downlink_loss",
        WARNING,
        "A participant's downlink lost packets",
        "This participant lost packets from every sender while the others received the "
        "same senders well: its network towards it is the likely cause.",
        "cross-participant attribution (one receiver sees loss from every sender)",
    ),
    IssueKind(
        "path_loss",
        WARNING,
        "Packets lost between participants",
        "Packets were lost on the way between the participants named, in a way no single "
        "participant's network explains: the relay/SFU or the network path between them.",
        "cross-participant attribution (everyone sees loss, or one sender to one receiver)",
    ),
    IssueKind(
        "relay_loss",
        WARNING,
        "Packets lost after the relay",
        "Every receiver of this participant lost packets of it, but the participant's own "
        "receiver reports (from the relay/SFU) show none: the relay or the paths from it "
        "are the likely cause.",
        "cross-participant attribution (receivers see loss, the sender's remote-inbound-rtp "
        "does not)",
    ),
    IssueKind(
        "sender_media_stopped",
        WARNING,
        "A participant's media stopped reaching everyone",
        "Every receiver of this participant's track stopped receiving it, although the "
        "participant did not stop or mute it.",
        "cross-participant grouping of dry_inbound_track (client-monitor DryInboundTrack)",
    ),
]

CATALOGUE: dict[str, IssueKind] = {kind.code: kind for kind in _KINDS}

# The codes the original server raised (reference §5.5), kept with their titles.
ORIGINAL_CODES = (
    "no_media_access",
    "ice_failed",
    "no_connection",
    "very_low_emos",
    "getusermedia_error",
    "icecandidateerror",
    "connection_disconnected",
    "connection_failed",
    "multiple_rejoins",
    "tcp_used",
    "turn_used",
    "low_emos",
)


def issue_catalogue() -> dict[str, dict[str, str]]:
    """code → ``{"code", "type", "title", "explanation", "source"}`` (JSON-ready)."""
    return {code: asdict(kind) for code, kind in CATALOGUE.items()}


def issue_title(code: str) -> str:
    """The catalogue title of ``code``, or the code itself when unknown."""
    kind = CATALOGUE.get(code)
    return kind.title if kind else code


def issue_explanation(code: str) -> str:
    """The catalogue explanation of ``code``, or ``""`` when unknown."""
    kind = CATALOGUE.get(code)
    return kind.explanation if kind else ""
