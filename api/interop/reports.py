"""A raw ``getStats()`` report (stats id → stats object, as a dump holds
it) in the shape the peermetrics SDK sends it to ``/v1/stats`` (pure), so
an imported sample goes through the same metrics as a live one
(:func:`api.quality.metrics.sample_extract`):

* ``connection``: the selected candidate pair (the transport's
  ``selectedCandidatePairId``, else the nominated succeeded pair) with its
  ``local`` and ``remote`` candidates inlined;
* ``audio``/``video`` → ``inbound``/``outbound``: the RTP streams, each with
  its codec's ``mimeType``, ``clockRate``, ``payloadType`` and, outbound,
  its media source as ``track``;
* ``remote`` → kind → ``inbound`` (remote-inbound-rtp) / ``outbound``
  (remote-outbound-rtp).

Chrome's computed series (``[bytesReceived_in_bits/s]`` …) are dropped.
"""

from __future__ import annotations

from typing import Any

KINDS = ("audio", "video")


def _ref(report: dict[str, dict], value: Any) -> dict | None:
    """The object a reference field names (ids are strings; anything else
    names nothing)."""
    found = report.get(value) if isinstance(value, str) else None
    return found if isinstance(found, dict) else None


def _clean(stat: dict) -> dict:
    return {k: v for k, v in stat.items() if not k.startswith("[")}


def _kind(stat: dict) -> str | None:
    kind = stat.get("kind") or stat.get("mediaType")
    return kind if kind in KINDS else None


def selected_pair(report: dict[str, dict]) -> dict | None:
    for stat in report.values():
        if stat.get("type") == "transport":
            pair = _ref(report, stat.get("selectedCandidatePairId"))
            if pair is not None:
                return pair
    pairs = [
        s
        for s in report.values()
        if s.get("type") == "candidate-pair"
        and s.get("state") == "succeeded"
        and s.get("nominated")
    ]
    if not pairs:
        return None

    def carried(pair: dict) -> float:
        total = 0.0
        for key in ("bytesReceived", "bytesSent"):
            value = pair.get(key)
            if isinstance(value, int | float):
                total += value
        return total

    return max(pairs, key=carried)


def sdk_sample(report: dict[str, dict]) -> dict[str, Any]:
    """The SDK's ``data`` for one report (see the module docstring)."""
    data: dict[str, Any] = {kind: {"inbound": [], "outbound": []} for kind in KINDS}
    remote: dict[str, Any] = {kind: {"inbound": [], "outbound": []} for kind in KINDS}
    for stat in report.values():
        if not isinstance(stat, dict):
            continue
        kind_of = stat.get("type")
        if kind_of not in {
            "inbound-rtp",
            "outbound-rtp",
            "remote-inbound-rtp",
            "remote-outbound-rtp",
        }:
            continue
        kind = _kind(stat)
        if kind is None:
            continue
        out = _clean(stat)
        codec = _ref(report, stat.get("codecId"))
        if codec is not None:
            for key in ("mimeType", "clockRate", "payloadType"):
                if key in codec:
                    out[key] = codec[key]
        if kind_of == "inbound-rtp":
            out["track"] = {}
            data[kind]["inbound"].append(out)
        elif kind_of == "outbound-rtp":
            source = _ref(report, stat.get("mediaSourceId"))
            out["track"] = _clean(source) if source is not None else {}
            data[kind]["outbound"].append(out)
        elif kind_of == "remote-inbound-rtp":
            remote[kind]["inbound"].append(out)
        else:
            remote[kind]["outbound"].append(out)
    pair = selected_pair(report)
    if pair is not None:
        connection = _clean(pair)
        for side, ref in (("local", "localCandidateId"), ("remote", "remoteCandidateId")):
            candidate = _ref(report, pair.get(ref))
            if candidate is not None:
                connection[side] = _clean(candidate)
        data["connection"] = connection
    else:
        data["connection"] = {}
    data["remote"] = remote
    return data
