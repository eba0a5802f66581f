"""Real SDK traffic, built from the captured calls in fixtures/sdk-payloads.

The bodies are the ones the SDK 2.7.2 sent; only ids, tokens and the
cumulative counters of the stats reports change. A stats report of tick k is
the captured report with every counter advanced by k times its per-interval
increment (measured between two consecutive captured samples), so a
synthetic call looks to the server like the real call went on for longer.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-payloads"
CAPTURED = "call-2-participants.json"


def captured_requests() -> list[dict]:
    return json.loads((PAYLOADS / CAPTURED).read_text())["requests"]


def _bodies(participant: str, path: str, name: str | None = None) -> list[dict]:
    out = []
    for request in captured_requests():
        body = request["body"]
        if request["participant"] != participant or request["path"] != path:
            continue
        if name is not None and (body.get("eventName") or body.get("event")) != name:
            continue
        out.append(body)
    return out


class Templates:
    """The request bodies of one captured participant, ready to re-address."""

    def __init__(self) -> None:
        p = "c1p0"
        self.session = _bodies(p, "/v1/sessions")[0]
        self.gum = _bodies(p, "/v1/events/get-user-media")
        self.connection_events = [
            b
            for b in _bodies(p, "/v1/connection")
            if b.get("eventName") not in {"addConnection", "removeConnection"}
        ]
        self.ontrack = _bodies(p, "/v1/tracks", "ontrack")
        self.unmute = _bodies(p, "/v1/tracks", "unmute")
        stats = _bodies(p, "/v1/stats")
        # The second and first samples: both before the other side stopped
        # its camera at 28 s, so every counter still grows between them.
        self.stats_last = stats[1]["data"]
        self.stats_previous = stats[0]["data"]


def _counters(current: Any, previous: Any, path: tuple, out: list) -> None:
    """Numeric fields that grow between two samples: (path, value, increment)."""
    if isinstance(current, dict) and isinstance(previous, dict):
        for key, value in current.items():
            if key in previous:
                _counters(value, previous[key], (*path, key), out)
    elif isinstance(current, list) and isinstance(previous, list):
        for index, (a, b) in enumerate(zip(current, previous, strict=False)):
            _counters(a, b, (*path, index), out)
    elif (
        isinstance(current, int | float)
        and not isinstance(current, bool)
        and isinstance(previous, int | float)
        and current > previous
    ):
        out.append((path, current, current - previous))


class StatsSynth:
    """Stats reports of one connection, tick after tick.

    ``loss`` (0–1) turns that share of the inbound packets of each interval
    into lost packets, to make the server see a degraded call."""

    def __init__(self, templates: Templates, *, interval_s: float) -> None:
        self.report = copy.deepcopy(templates.stats_last)
        self.scale = interval_s / 10.0  # the captured call sampled every 10 s
        self.fields: list[tuple[tuple, float, float]] = []
        _counters(self.report, templates.stats_previous, (), self.fields)
        self.tick = 0
        self.held: dict[tuple[str, str], int] = {}
        self.lost: dict[tuple, float] = {}
        # Inbound packets per captured interval, per report: the base of the loss.
        self.received_increment = {
            path[:-1]: increment
            for path, _, increment in self.fields
            if len(path) == 4 and path[1] == "inbound" and path[-1] == "packetsReceived"
        }
        # Each counter's container, found once: the report is updated in
        # place tick after tick, and the open-loop generator makes thousands
        # of reports a second.
        self.slots = [
            (
                self._container(path),
                path[-1],
                base,
                increment,
                isinstance(base, int),
                None if path[-1] == "timestamp" else path[:2],
            )
            for path, base, increment in self.fields
        ]
        # Packets sent per captured interval, by kind: the base of the remote loss.
        self.sent_increment = {
            kind: next(
                (
                    increment
                    for path, _, increment in self.fields
                    if path[:2] == (kind, "outbound") and path[-1] == "packetsSent"
                ),
                0.0,
            )
            for kind in ("audio", "video")
        }

    def _container(self, path: tuple) -> Any:
        node = self.report
        for key in path[:-1]:
            node = node[key]
        return node

    def next(
        self,
        *,
        loss: float = 0.0,
        remote_loss: float = 0.0,
        stalled: frozenset[tuple[str, str]] = frozenset(),
    ) -> dict:
        """The report of the next tick. ``loss`` (0–1): share of the
        packets sent to this side that were lost (its inbound reports);
        ``remote_loss``: share of what this side sent that its peer lost
        (its remote-inbound reports: ``fractionLost`` and ``packetsLost``).
        The lost audio is concealed (``concealedSamples``). ``stalled``:
        (kind, direction) whose counters stand still this tick (a frozen
        sender; the reports' timestamps go on)."""
        self.tick += 1
        for held in stalled:
            self.held[held] = self.held.get(held, 0) + 1
        for container, key, base, increment, whole, held_by in self.slots:
            held_steps = self.held.get(held_by, 0) if held_by else 0
            value = base + increment * (self.tick - held_steps) * self.scale
            container[key] = int(value) if whole else value
        for path, increment in self.received_increment.items():
            self.lost[path] = self.lost.get(path, 0.0) + increment * self.scale * loss
            report = self.report[path[0]][path[1]][path[2]]
            lost = int(self.lost[path])
            report["packetsLost"] = lost
            report["packetsReceived"] = max(0, report["packetsReceived"] - lost)
            if path[0] == "audio" and "totalSamplesReceived" in report:
                share = lost / max(1, report["packetsReceived"] + lost)
                concealed = int(report["totalSamplesReceived"] * share)
                report["concealedSamples"] = max(report.get("concealedSamples", 0), concealed)
        for kind in ("audio", "video"):
            for index, remote in enumerate(
                self.report.get("remote", {}).get(kind, {}).get("inbound", [])
            ):
                key = ("remote", kind, index)
                sent = self.sent_increment[kind] * self.scale
                self.lost[key] = self.lost.get(key, 0.0) + sent * remote_loss
                remote["fractionLost"] = remote_loss
                remote["packetsLost"] = int(self.lost[key])
        return self.report

    def body(self, *, token: str, peer_id: str, connection_id: str, loss: float = 0.0) -> bytes:
        return orjson.dumps(
            {
                "data": self.next(loss=loss, remote_loss=0.0),
                "peerId": peer_id,
                "connectionId": connection_id,
                "timeTaken": 2,
                "token": token,
            }
        )


# ------------------------------------------------------ impaired calls

UPLINK = "uplink"
DOWNLINK = "downlink"
EVERYONE = "everyone"


def mesh_losses(
    participants: list[str], *, where: str | None, who: str | None = None, loss: float = 0.0
) -> dict[tuple[str, str], float]:
    """Loss (0–1) of the media from sender to receiver, keyed (receiver,
    sender), for a full-mesh call with ``loss`` on ``who``'s uplink (every
    stream it sends), on ``who``'s downlink (every stream it receives), or
    on ``everyone``'s path (``where`` is UPLINK, DOWNLINK, EVERYONE or None
    for a clean call)."""
    out = {}
    for receiver in participants:
        for sender in participants:
            if receiver == sender:
                continue
            hit = (
                where == EVERYONE
                or (where == UPLINK and sender == who)
                or (where == DOWNLINK and receiver == who)
            )
            out[(receiver, sender)] = loss if hit else 0.0
    return out


class MeshSynth:
    """Stats of every connection of a full-mesh call: one :class:`StatsSynth`
    per (participant, peer) connection; :meth:`tick` gives each
    connection's report for the next interval, the loss of ``losses``
    ((receiver, sender) → share) on its inbound streams and the loss its
    peer suffered from it on its remote-inbound reports."""

    def __init__(self, templates: Templates, participants: list[str], *, interval_s: float = 10.0):
        self.participants = participants
        self.synths = {
            (me, peer): StatsSynth(templates, interval_s=interval_s)
            for me in participants
            for peer in participants
            if me != peer
        }

    def tick(
        self,
        losses: dict[tuple[str, str], float],
        *,
        frozen: frozenset[tuple[str, str]] = frozenset(),
        reported: dict[tuple[str, str], float] | None = None,
    ) -> dict[tuple[str, str], dict]:
        """(participant, peer) → the participant's report on its connection
        to the peer. ``frozen``: (sender, kind) whose media stopped flowing
        (its outbound and its receivers' inbound counters stand still).
        ``reported``: the loss each sender's remote-inbound reports say,
        (receiver, sender) → share, when not the loss itself (a relay or
        SFU in between answers for the receivers)."""
        remote = losses if reported is None else reported
        out = {}
        for (me, peer), synth in self.synths.items():
            stalled = frozenset(
                {(kind, "outbound") for sender, kind in frozen if sender == me}
                | {(kind, "inbound") for sender, kind in frozen if sender == peer}
            )
            out[(me, peer)] = copy.deepcopy(
                synth.next(
                    loss=losses.get((me, peer), 0.0),
                    remote_loss=remote.get((peer, me), 0.0),
                    stalled=stalled,
                )
            )
        return out
