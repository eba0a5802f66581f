"""Fixtures for quality tests: a controllable clock, a live call driven
through the SDK endpoints, and a script of getStats counters that advances
interval by interval (so each test states only what goes wrong)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.quality import analysis
from api.quality import state as live_state
from api.quality.models import Issue

START = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_quality_state():
    """Live state is per process; every test starts without it."""
    live_state.STATE.clear()
    analysis._intervals.clear()
    yield
    live_state.STATE.clear()
    analysis._intervals.clear()


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("api.common.time.now", clock)
    return clock


# Healthy per-interval rates of each stream; a test overrides what breaks.
AUDIO_IN = {
    "pps": 50.0,
    "lost": 0,
    "bytes_per_packet": 60,
    "jitter": 0.002,
    "jb_ms": 30.0,
    "conceal_pct": 0.0,
    "silent_pct": 0.0,
    "stretch_pct": 0.0,
    "fec": 0,
    "fec_discarded": 0,
}
VIDEO_IN = {
    "pps": 150.0,
    "lost": 0,
    "bitrate": 1_200_000.0,
    "jitter": 0.005,
    "jb_ms": 40.0,
    "fps": 30.0,
    "decoded_ratio": 1.0,
    "freezes": 0,
    "freeze_s": 0.0,
    "pli": 0,
    # Of "bitrate": retransmissions (RTX), counted in bytesReceived too.
    "rtx_bitrate": 0.0,
    "width": 1280,
    "height": 720,
}
AUDIO_OUT = {"pps": 50.0, "bytes_per_packet": 60, "active": True}
VIDEO_OUT = {
    "pps": 150.0,
    "bitrate": 1_200_000.0,
    "fps": 30.0,
    "cpu_s": 0.0,
    "bandwidth_s": 0.0,
    "reason": "none",
    "width": 1280,
    "height": 720,
    "active": True,
}
PAIR = {"rtt": 0.04, "candidate_type": "host", "protocol": "udp", "relay_protocol": None}


@dataclass
class StatsScript:
    """Cumulative getStats counters of one connection in the SDK's /stats
    ``data`` shape; :meth:`sample` advances them by one interval."""

    ts_ms: float = START.timestamp() * 1000
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    streams: tuple[str, ...] = ("audio_in", "video_in", "audio_out", "video_out")
    audio_in_ident: str = "remote-audio-1"
    video_in_ident: str = "remote-video-1"
    audio_out_ident: str = "local-audio-1"
    video_out_ident: str = "local-video-1"

    def _add(self, stream: str, **values: float) -> dict[str, float]:
        counter = self.counters.setdefault(stream, {})
        for key, value in values.items():
            counter[key] = counter.get(key, 0.0) + value
        return counter

    def sample(self, seconds: float = 10.0, **changes: dict[str, Any]) -> dict:
        self.ts_ms += seconds * 1000
        ts = self.ts_ms
        data: dict[str, Any] = {
            "audio": {"inbound": [], "outbound": []},
            "video": {"inbound": [], "outbound": []},
            "remote": {
                "audio": {"inbound": [], "outbound": []},
                "video": {"inbound": [], "outbound": []},
            },
        }
        sent = received = 0.0
        pair = {**PAIR, **changes.get("pair", {})}
        if "audio_in" in self.streams:
            p = {**AUDIO_IN, **changes.get("audio_in", {})}
            packets = p["pps"] * seconds
            samples = 48_000 * seconds
            c = self._add(
                "audio_in",
                packetsReceived=packets,
                packetsLost=p["lost"],
                bytesReceived=packets * p["bytes_per_packet"],
                jitterBufferEmittedCount=samples,
                jitterBufferDelay=samples * p["jb_ms"] / 1000,
                totalSamplesReceived=samples,
                concealedSamples=samples * (p["conceal_pct"] + p["silent_pct"]) / 100,
                silentConcealedSamples=samples * p["silent_pct"] / 100,
                insertedSamplesForDeceleration=samples * p["stretch_pct"] / 200,
                removedSamplesForAcceleration=samples * p["stretch_pct"] / 200,
                fecPacketsReceived=p["fec"],
                fecPacketsDiscarded=p["fec_discarded"],
            )
            received += packets * p["bytes_per_packet"]
            data["audio"]["inbound"].append(
                {
                    "id": "IT01A1",
                    "timestamp": ts,
                    "type": "inbound-rtp",
                    "kind": "audio",
                    "trackIdentifier": self.audio_in_ident,
                    "mimeType": "audio/opus",
                    "jitter": p["jitter"],
                    "track": {},
                    **{k: round(v) if k != "jitterBufferDelay" else v for k, v in c.items()},
                }
            )
        if "video_in" in self.streams:
            p = {**VIDEO_IN, **changes.get("video_in", {})}
            frames = p["fps"] * seconds
            c = self._add(
                "video_in",
                packetsReceived=p["pps"] * seconds,
                packetsLost=p["lost"],
                bytesReceived=p["bitrate"] / 8 * seconds,
                framesReceived=frames,
                framesDecoded=frames * p["decoded_ratio"],
                freezeCount=p["freezes"],
                totalFreezesDuration=p["freeze_s"],
                pliCount=p["pli"],
                retransmittedBytesReceived=p["rtx_bitrate"] / 8 * seconds,
                jitterBufferEmittedCount=frames,
                jitterBufferDelay=frames * p["jb_ms"] / 1000,
            )
            received += p["bitrate"] / 8 * seconds
            data["video"]["inbound"].append(
                {
                    "id": "IT01V1",
                    "timestamp": ts,
                    "type": "inbound-rtp",
                    "kind": "video",
                    "trackIdentifier": self.video_in_ident,
                    "mimeType": "video/VP8",
                    "jitter": p["jitter"],
                    "frameWidth": p["width"],
                    "frameHeight": p["height"],
                    "framesPerSecond": p["fps"],
                    "track": {},
                    **{k: v if "Duration" in k or "Delay" in k else round(v) for k, v in c.items()},
                }
            )
        if "audio_out" in self.streams:
            p = {**AUDIO_OUT, **changes.get("audio_out", {})}
            packets = p["pps"] * seconds
            c = self._add(
                "audio_out", packetsSent=packets, bytesSent=packets * p["bytes_per_packet"]
            )
            sent += packets * p["bytes_per_packet"]
            data["audio"]["outbound"].append(
                {
                    "id": "OT01A1",
                    "timestamp": ts,
                    "type": "outbound-rtp",
                    "kind": "audio",
                    "mimeType": "audio/opus",
                    "active": p["active"],
                    "track": {"trackIdentifier": self.audio_out_ident, "kind": "audio"},
                    **{k: round(v) for k, v in c.items()},
                }
            )
            data["remote"]["audio"]["inbound"].append(
                {
                    "id": "RIA1",
                    "type": "remote-inbound-rtp",
                    "kind": "audio",
                    "localId": "OT01A1",
                    "roundTripTime": pair["rtt"],
                    "fractionLost": 0,
                    "packetsLost": 0,
                    "jitter": 0.002,
                }
            )
        if "video_out" in self.streams:
            p = {**VIDEO_OUT, **changes.get("video_out", {})}
            c = self._add(
                "video_out",
                packetsSent=p["pps"] * seconds,
                bytesSent=p["bitrate"] / 8 * seconds,
                framesSent=p["fps"] * seconds,
                cpu=p["cpu_s"],
                bandwidth=p["bandwidth_s"],
            )
            sent += p["bitrate"] / 8 * seconds
            data["video"]["outbound"].append(
                {
                    "id": "OT01V1",
                    "timestamp": ts,
                    "type": "outbound-rtp",
                    "kind": "video",
                    "mimeType": "video/VP8",
                    "active": p["active"],
                    "frameWidth": p["width"],
                    "frameHeight": p["height"],
                    "framesPerSecond": p["fps"],
                    "qualityLimitationReason": p["reason"],
                    "qualityLimitationDurations": {
                        "cpu": c["cpu"],
                        "bandwidth": c["bandwidth"],
                        "none": 0,
                        "other": 0,
                    },
                    "track": {"trackIdentifier": self.video_out_ident, "kind": "video"},
                    "packetsSent": round(c["packetsSent"]),
                    "bytesSent": round(c["bytesSent"]),
                    "framesSent": round(c["framesSent"]),
                }
            )
        p = pair
        c = self._add("pair", bytesSent=sent, bytesReceived=received * p.get("received", 1.0))
        local = {
            "candidateType": p["candidate_type"],
            "protocol": p["protocol"],
            "type": "local-candidate",
        }
        if p["relay_protocol"]:
            local["relayProtocol"] = p["relay_protocol"]
            local["url"] = "turns:turn.example.com:443?transport=tcp"
        data["connection"] = {
            "id": "CP1",
            "timestamp": ts,
            "type": "candidate-pair",
            "state": "succeeded",
            "nominated": True,
            "currentRoundTripTime": p["rtt"],
            "bytesSent": round(c["bytesSent"]),
            "bytesReceived": round(c["bytesReceived"]),
            "local": local,
            "remote": {"candidateType": "host", "type": "remote-candidate"},
        }
        return data


class Peer:
    """One participant of a :class:`LiveCall`, with its session token."""

    def __init__(self, call: LiveCall, user: str, token: str):
        self.call, self.user, self.token = call, user, token
        self.connections: dict[str, str] = {}

    def connect(self, peer_user: str, *, state: str | None = None) -> str:
        body = {"token": self.token, "eventName": "addConnection", "peerId": peer_user}
        if state:
            body["connectionState"] = state
        response = self.call.sdk.post("/v1/connection", body)
        assert response.status == 200, response
        self.connections[peer_user] = response.json["connection_id"]
        self.call.peer_ids[peer_user] = response.json["peer_id"]
        return response.json["connection_id"]

    def stats(self, connection_id: str, data: dict, *, delta: int | None = None):
        body: dict[str, Any] = {"token": self.token, "connectionId": connection_id, "data": data}
        if delta is not None:
            body["delta"] = delta
        response = self.call.sdk.post("/v1/stats", body)
        assert response.status == 200, response
        return response

    def event(self, name: str, data: Any = None, *, connection_id: str | None = None, **extra):
        route = "/v1/events/browser"
        body: dict[str, Any] = {"token": self.token, "eventName": name, "data": data, **extra}
        if connection_id is not None:
            route = "/v1/connection"
            body["connectionId"] = connection_id
            body["peerId"] = self.call.peer_ids.get(
                self._peer_of(connection_id), self._peer_of(connection_id)
            )
        if name == "getUserMedia":
            route = "/v1/events/get-user-media"
        response = self.call.sdk.post(route, body)
        assert response.status == 200, response
        return response

    def track(self, method: str, event: str, track_id: str, *, connection_id=None, data=None):
        body: dict[str, Any] = {"token": self.token, "event": event, "trackId": track_id}
        if connection_id:
            body["connectionId"] = connection_id
        body["data"] = data if data is not None else {}
        response = self.call.sdk.send(method, "/v1/tracks", body)
        assert response.status == 200, response
        return response

    def _peer_of(self, connection_id: str) -> str:
        for user, cid in self.connections.items():
            if cid == connection_id:
                return user
        raise KeyError(connection_id)


class LiveCall:
    """A conference driven through the SDK endpoints, like a browser would."""

    def __init__(self, sdk, clock: Clock, conference: str = "quality-call"):
        self.sdk, self.clock, self.conference = sdk, clock, conference
        self.peer_ids: dict[str, str] = {}

    def join(self, user: str) -> Peer:
        init = self.sdk.post(
            "/v1/initialize",
            {
                "apiKey": "0123456789abcdef0123456789abcdef",
                "userId": user,
                "conferenceId": self.conference,
            },
        )
        assert init.status == 200, init
        session = self.sdk.post("/v1/sessions", {"token": init.json["token"]})
        assert session.status == 200, session
        return Peer(self, user, session.json["token"])


@pytest.fixture
def live(sdk, app, clock) -> LiveCall:
    return LiveCall(sdk, clock)


def issues(code: str | None = None) -> list[Issue]:
    queryset = Issue.objects.order_by("created_at")
    if code is not None:
        queryset = queryset.filter(code=code)
    return list(queryset)


def run(peer: Peer, connection_id: str, script: StatsScript, clock: Clock, *steps, seconds=10.0):
    """Post one sample per step (a dict of stream changes), 10 s apart.
    Returns the last body's ``data``."""
    data = None
    for changes in steps:
        clock.advance(seconds)
        data = script.sample(seconds, **copy.deepcopy(changes))
        peer.stats(connection_id, data)
    return data
