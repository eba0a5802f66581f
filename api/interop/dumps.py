"""Reading browser dumps (pure: bytes in, a :class:`Dump` out, nothing
stored): ``chrome://webrtc-internals`` JSON (plain or gzip) and rtcstats
dump files of format 3 (JSON Lines, gzip). docs/interop.md describes both.

A dump is refused with a :class:`DumpError` that says which rule it broke
and where (a line, a byte offset, a key): not one of the formats
(``dump_unrecognised``), cut short (``dump_truncated``), malformed
(``dump_invalid``), or larger than allowed once decompressed
(``dump_too_large``). Nothing is stored before the whole dump has been
read, so a refused dump leaves nothing behind.

Stats are kept at the rate the app's SDK would send them
(``keep_every_ms``, the app's stats interval): a dump has a report per
second per connection, the SDK one per interval, and the detectors count
persistence in samples (``api/quality/conf.py``). Counters are cumulative,
so a report every ten seconds gives the same rates over ten-second
intervals. The last report of each connection is always kept.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

GZIP_MAGIC = b"\x1f\x8b"
RTCSTATS_HEADER = b"RTCStatsDump"

INTERNALS = "webrtc-internals"
RTCSTATS = "rtcstats"

# Callbacks whose older spelling has no "on" (fippo's importer, Chrome < M117).
_CALLBACKS = {
    "icecandidate",
    "icecandidateerror",
    "iceconnectionstatechange",
    "connectionstatechange",
    "signalingstatechange",
    "icegatheringstatechange",
    "negotiationneeded",
    "datachannel",
    "track",
    "removetrack",
}

# rtcstats' static table of compressed method names (the ones we act on or
# that show up in real dumps); uncompressed names pass through.
_METHODS = {
    1: "getStats",
    2: "createOffer",
    3: "createAnswer",
    6: "setLocalDescription",
    7: "setRemoteDescription",
    10: "addIceCandidate",
    20: "onicecandidate",
    24: "oniceconnectionstatechange",
    25: "onconnectionstatechange",
    39: "create",
    60: "navigator.mediaDevices.getUserMedia",
    61: "navigator.mediaDevices.getUserMediaOnSuccess",
    65: "navigator.mediaDevices.getUserMediaOnFailure",
    72: "MediaStreamTrack.onended",
    "g": "getStats",
}

# Stats types of the legacy "goog" API (Chrome < M122): not importable.
_LEGACY_TYPES = {"ssrc", "googCandidatePair", "googComponent", "VideoBwe", "googTrack"}


class DumpError(Exception):
    """A dump we refuse: ``code`` is an error code of the catalogue."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class GumRecord:
    """One getUserMedia call, its success or its failure, SDK-shaped."""

    rid: str
    at_ms: float
    name: str  # "getUserMedia": a request, its success, or (data.error) its failure
    data: dict[str, Any]
    url: str | None = None


@dataclass
class PeerConnectionDump:
    key: str  # "<renderer id>-<local id>", e.g. "9-1"
    rid: str
    url: str | None = None
    configuration: Any = None
    created_ms: float | None = None
    # (epoch ms, event name as the SDK names it, value decoded)
    events: list[tuple[float, str, Any]] = field(default_factory=list)
    # (epoch ms, {stats id: stats object}) at the kept ticks, oldest first
    reports: list[tuple[float, dict[str, dict]]] = field(default_factory=list)
    ticks_total: int = 0
    # ICE usernameFragments of the local and the remote candidates: the
    # two ends of one call recorded in one browser find each other by them.
    local_ufrags: set[str] = field(default_factory=set)
    remote_ufrags: set[str] = field(default_factory=set)

    @property
    def first_ms(self) -> float | None:
        times = [t for t, _, _ in self.events[:1]] + [t for t, _ in self.reports[:1]]
        if self.created_ms is not None:
            times.append(self.created_ms)
        return min(times) if times else None

    @property
    def last_ms(self) -> float | None:
        times = [t for t, _, _ in self.events[-1:]] + [t for t, _ in self.reports[-1:]]
        return max(times) if times else None


@dataclass
class Dump:
    format: str
    peer_connections: list[PeerConnectionDump]
    get_user_media: list[GumRecord]
    user_agent: str | None = None
    user_agent_data: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    stats_truncated: bool = False

    @property
    def rids(self) -> list[str]:
        """The renderers (one per page: one participant each), in order of
        appearance."""
        seen: dict[str, None] = {}
        for record in self.get_user_media:
            seen.setdefault(record.rid, None)
        for pc in self.peer_connections:
            seen.setdefault(pc.rid, None)
        return list(seen)

    @property
    def first_ms(self) -> float:
        times = [pc.first_ms for pc in self.peer_connections if pc.first_ms is not None]
        times += [g.at_ms for g in self.get_user_media]
        return min(times)

    @property
    def last_ms(self) -> float:
        times = [pc.last_ms for pc in self.peer_connections if pc.last_ms is not None]
        times += [g.at_ms for g in self.get_user_media]
        return max(times)


def at_of(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)


# ------------------------------------------------------------------ entry


def dump_read(raw: bytes, *, keep_every_ms: float, max_bytes: int) -> Dump:
    """The dump in ``raw`` (see the module docstring). ``max_bytes`` bounds
    the decompressed size."""
    if not raw.strip():
        raise DumpError("dump_unrecognised", "The file is empty.")
    compressed = raw[:2] == GZIP_MAGIC
    stream: io.BufferedIOBase
    stream = gzip.GzipFile(fileobj=io.BytesIO(raw)) if compressed else io.BytesIO(raw)
    head = _peek(stream)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(RTCSTATS_HEADER):
        dump = _rtcstats_read(_Lines(stream, max_bytes), keep_every_ms=keep_every_ms)
    elif stripped.startswith(b"{"):
        body = _read_all(stream, max_bytes)
        dump = _internals_read(body, keep_every_ms=keep_every_ms)
    else:
        raise DumpError(
            "dump_unrecognised",
            "Not a webrtc-internals dump (a JSON object) nor an rtcstats dump "
            f"(first line 'RTCStatsDump'): the file starts with {stripped[:24]!r}.",
        )
    if not dump.peer_connections:
        raise DumpError("dump_invalid", "The dump has no peer connection.")
    return dump


def _peek(stream: io.BufferedIOBase) -> bytes:
    try:
        head = stream.read(64)
        stream.seek(0)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise _gzip_error(exc, 0) from exc
    return head


def _gzip_error(exc: Exception, at: int) -> DumpError:
    if isinstance(exc, EOFError):
        return DumpError(
            "dump_truncated",
            f"The gzip stream ends early, after {at} decompressed bytes: the file is truncated.",
        )
    return DumpError("dump_invalid", f"The file is not valid gzip (after {at} bytes): {exc}.")


def _read_all(stream: io.BufferedIOBase, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = stream.read(1 << 20)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise _gzip_error(exc, total) from exc
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> DumpError:
    return DumpError(
        "dump_too_large", f"The dump is larger than {max_bytes} bytes once decompressed."
    )


class _Lines:
    """The lines of a (decompressed) stream, numbered, size-bounded."""

    def __init__(self, stream: io.BufferedIOBase, max_bytes: int):
        self.stream, self.max_bytes = stream, max_bytes
        self.number = 0
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                line = self.stream.readline()
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise _gzip_error(exc, self.total) from exc
            if not line:
                return
            self.number += 1
            self.total += len(line)
            if self.total > self.max_bytes:
                raise _too_large(self.max_bytes)
            yield line


def _decoded(value: Any) -> Any:
    """An updateLog value: JSON text decoded (state changes are quoted in
    current Chrome, bare in older ones), empty text as None."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    if text[0] in '{["' or text in {"null", "true", "false"}:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return value
    return value


def event_name(name: str) -> str:
    return f"on{name}" if name in _CALLBACKS else name


def _rid(key: str) -> str:
    return key.split("-", 1)[0]


class _Keeper:
    """Which ticks of one connection are kept (see the module docstring)."""

    def __init__(self, every_ms: float):
        # A second's jitter in the browser's timer must not skip a tick.
        self.every_ms = max(every_ms - 500.0, 0.0)
        self.last: float | None = None

    def keep(self, at_ms: float) -> bool:
        if self.last is None or at_ms - self.last >= self.every_ms:
            self.last = at_ms
            return True
        return False


def _ufrags_note(pc: PeerConnectionDump, report: dict[str, dict]) -> None:
    for stat in report.values():
        kind = stat.get("type")
        ufrag = stat.get("usernameFragment")
        if isinstance(ufrag, str):
            if kind == "local-candidate":
                pc.local_ufrags.add(ufrag)
            elif kind == "remote-candidate":
                pc.remote_ufrags.add(ufrag)


def _legacy_check(types: set[str], where: str) -> None:
    if types & _LEGACY_TYPES and not types & {"inbound-rtp", "outbound-rtp", "candidate-pair"}:
        raise DumpError(
            "dump_invalid",
            f"{where} has only legacy 'goog' stats (Chrome before M122), which cannot be imported.",
        )


# ------------------------------------------------------ webrtc-internals


def _internals_read(body: bytes, *, keep_every_ms: float) -> Dump:
    try:
        top = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # A JSON object cut short fails at its end; anything else is malformed.
        position = _json_error_position(exc)
        if position is not None and position >= len(body.rstrip()) - 1:
            raise DumpError(
                "dump_truncated",
                f"The JSON ends early, at byte {position} of {len(body)}: the file is truncated.",
            ) from exc
        raise DumpError("dump_invalid", f"The JSON is malformed: {exc}.") from exc
    if not isinstance(top, dict) or not isinstance(top.get("PeerConnections"), dict):
        raise DumpError(
            "dump_unrecognised",
            "A JSON object without 'PeerConnections': not a webrtc-internals dump.",
        )
    dump = Dump(
        format=INTERNALS,
        peer_connections=[],
        get_user_media=_internals_gum(top.get("getUserMedia")),
        user_agent=top.get("UserAgent") if isinstance(top.get("UserAgent"), str) else None,
        user_agent_data=top.get("UserAgentData"),
        meta={
            k: top[k]
            for k in ("hardwareConcurrency", "deviceMemory", "cpuPerformance", "timestamp")
            if k in top
        },
    )
    for key, value in top["PeerConnections"].items():
        if not isinstance(value, dict):
            raise DumpError("dump_invalid", f"PeerConnections[{key!r}] is not an object.")
        pc = PeerConnectionDump(key=str(key), rid=_rid(str(key)))
        pc.url = value.get("url") if isinstance(value.get("url"), str) else None
        pc.configuration = _decoded(value.get("rtcConfiguration"))
        for i, entry in enumerate(value.get("updateLog") or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                raise DumpError(
                    "dump_invalid", f"PeerConnections[{key!r}].updateLog[{i}] is malformed."
                )
            at = entry.get("timestamp")
            if not isinstance(at, int | float):
                at = _locale_time(entry.get("time"))
            if at is None:
                continue
            pc.events.append((float(at), event_name(entry["type"]), _decoded(entry.get("value"))))
        pc.events.sort(key=lambda e: e[0])
        truncated = _internals_stats(pc, value.get("stats") or {}, keep_every_ms=keep_every_ms)
        dump.stats_truncated = dump.stats_truncated or truncated
        dump.peer_connections.append(pc)
    dump.peer_connections.sort(key=lambda p: p.first_ms or 0.0)
    return dump


def _json_error_position(exc: orjson.JSONDecodeError) -> int | None:
    pos = getattr(exc, "pos", None)
    return pos if isinstance(pos, int) else None


def _locale_time(text: Any) -> float | None:
    """Older dumps' ``time``: a locale-formatted date (best effort)."""
    if not isinstance(text, str):
        return None
    for fmt in ("%m/%d/%Y, %I:%M:%S %p", "%d/%m/%Y, %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp() * 1000.0
        except ValueError:
            continue
    return None


def _iso_ms(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0
    except ValueError:
        return None


def _internals_stats(pc: PeerConnectionDump, stats: dict, *, keep_every_ms: float) -> bool:
    """Pivot the series back into per-tick reports (the kept ticks only).
    Returns whether Chrome's 1000-value limit cut the series."""
    if not isinstance(stats, dict):
        raise DumpError("dump_invalid", f"PeerConnections[{pc.key!r}].stats is not an object.")
    objects: dict[str, dict[str, Any]] = {}
    types: set[str] = set()
    for key, series in stats.items():
        if "-[" in key or not isinstance(series, dict):
            continue  # a computed series (rates, formatted strings): not a spec counter
        stats_id, _, prop = key.rpartition("-")
        if not stats_id:
            continue
        raw_values = series.get("values")
        try:
            values = orjson.loads(raw_values) if isinstance(raw_values, str) else raw_values
        except orjson.JSONDecodeError as exc:
            raise DumpError(
                "dump_invalid", f"PeerConnections[{pc.key!r}].stats[{key!r}].values is not JSON."
            ) from exc
        if not isinstance(values, list):
            continue
        entry = objects.setdefault(
            stats_id, {"type": series.get("statsType"), "props": {}, "end": None}
        )
        if isinstance(series.get("statsType"), str):
            types.add(series["statsType"])
        entry["end"] = entry["end"] or _iso_ms(series.get("endTime"))
        entry["props"][prop] = values
    _legacy_check(types, f"PeerConnections[{pc.key!r}]")
    truncated = False
    # Each object's tick times: its own timestamp series (M117+), else one
    # value a second up to its endTime (fippo's fallback).
    for entry in objects.values():
        props = entry["props"]
        times = props.pop("timestamp", None)
        length = max((len(v) for v in props.values()), default=0)
        if not isinstance(times, list) or not all(isinstance(t, int | float) for t in times):
            end = entry["end"] or 0.0
            times = [end - 1000.0 * (length - 1 - i) for i in range(length)]
        entry["times"] = times
        truncated = truncated or len(times) >= 1000
    # Every getStats call appends one value to each object's series, so the
    # series line up from their ends. The ticks are the longest local
    # series' times (a remote-* object carries the remote clock's).
    local = [e for e in objects.values() if not str(e["type"]).startswith("remote-")]
    reference = max(local or list(objects.values()), key=lambda e: len(e["times"]), default=None)
    ticks = list(reference["times"]) if reference is not None else []
    pc.ticks_total = len(ticks)
    keeper = _Keeper(keep_every_ms)
    kept = [i for i, t in enumerate(ticks) if keeper.keep(t)]
    if ticks and kept[-1] != len(ticks) - 1:
        kept.append(len(ticks) - 1)
    total = len(ticks)
    for tick_index in kept:
        tick = ticks[tick_index]
        report: dict[str, dict] = {}
        for stats_id, entry in objects.items():
            times = entry["times"]
            i = tick_index - (total - len(times))
            if i < 0 or i >= len(times):
                continue
            obj: dict[str, Any] = {"id": stats_id, "type": entry["type"], "timestamp": times[i]}
            for prop, values in entry["props"].items():
                j = i - (len(times) - len(values))
                if 0 <= j < len(values):
                    obj[prop] = values[j]
            report[stats_id] = obj
        _ufrags_note(pc, report)
        pc.reports.append((tick, report))
    return truncated


def _internals_gum(records: Any) -> list[GumRecord]:
    out: list[GumRecord] = []
    if not isinstance(records, list):
        return out
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("timestamp"), int | float):
            continue
        rid = str(record.get("rid", "0"))
        at = float(record["timestamp"])
        if "error" in record:
            error = {"name": record.get("error"), "message": record.get("error_message")}
            out.append(GumRecord(rid, at, "getUserMedia", {"error": error}))
        elif "stream_id" in record or "audio_track_info" in record or "video_track_info" in record:
            data: dict[str, Any] = {}
            for kind in ("audio", "video"):
                info = _decoded(record.get(f"{kind}_track_info"))
                if isinstance(info, dict) and isinstance(info.get("id"), str):
                    data[kind] = [{"id": info["id"], "label": info.get("label"), "kind": kind}]
            out.append(GumRecord(rid, at, "getUserMedia", data))
        else:
            constraints = {}
            for kind in ("audio", "video"):
                if kind in record:
                    value = record[kind]
                    # An empty string means `true`; otherwise a constraint text.
                    constraints[kind] = True if value == "" else _decoded(value)
            out.append(
                GumRecord(
                    rid,
                    at,
                    "getUserMedia",
                    {"constraints": constraints, "type": record.get("request_type")},
                    url=record.get("url"),
                )
            )
    out.sort(key=lambda g: g.at_ms)
    return out


# -------------------------------------------------------------- rtcstats


def _rtcstats_read(lines: _Lines, *, keep_every_ms: float) -> Dump:
    dump = Dump(format=RTCSTATS, peer_connections=[], get_user_media=[])
    pcs: dict[str, PeerConnectionDump] = {}
    keepers: dict[str, _Keeper] = {}
    last_report: dict[str, tuple[float, dict[str, dict]]] = {}
    previous: dict[str, dict[str, dict]] = {}
    clock: float | None = None
    iterator = iter(lines)
    next(iterator, None)  # the header, checked by the caller
    meta_line = next(iterator, None)
    if meta_line is None:
        raise DumpError("dump_truncated", "The rtcstats dump ends after its header (line 1).")
    meta = _line_json(meta_line, lines)
    if not isinstance(meta, dict) or "fileFormat" not in meta:
        raise DumpError("dump_invalid", "Line 2 of an rtcstats dump must be its metadata object.")
    if meta.get("fileFormat") != 3:
        raise DumpError(
            "dump_invalid",
            f"rtcstats fileFormat {meta.get('fileFormat')!r} is not supported (only 3).",
        )
    dump.meta = {k: v for k, v in meta.items() if k != "authData"}
    dump.user_agent = meta.get("userAgent") if isinstance(meta.get("userAgent"), str) else None
    types: set[str] = set()
    # Connections whose reports are full (Chrome's exporter): a report that
    # is not kept is skipped unparsed (parsing is most of a dump's reading).
    full: dict[str, bool] = {}
    unparsed_last: dict[str, tuple[float, bytes, int]] = {}

    def kept(pc: PeerConnectionDump, at: float, report: dict[str, dict]) -> None:
        for stat in report.values():
            if isinstance(stat.get("type"), str):
                types.add(stat["type"])
        _ufrags_note(pc, report)
        pc.reports.append((at, report))

    for line in iterator:
        if not line.strip():
            continue
        peek = _stats_peek(line) if line.startswith(_GETSTATS_PREFIXES) else None
        if peek is not None and clock is not None and full.get(peek[0]):
            key, delta = peek
            clock += delta
            pc = pcs[key]
            pc.ticks_total += 1
            # The report's own time is within milliseconds of the line's.
            if not keepers[key].keep(clock):
                unparsed_last[key] = (clock, line, lines.number)
                continue
            unparsed_last.pop(key, None)
            report = _full_report(_line_json(line, lines), lines.number)
            at = _report_time(report, clock)
            last_report[key] = (at, report)
            kept(pc, at, report)
            continue
        entry = _line_json(line, lines)
        if not isinstance(entry, list) or len(entry) < 3:
            raise DumpError(
                "dump_invalid", f"Line {lines.number} is not an [method, id, value, …] array."
            )
        delta = entry[-1]
        if not isinstance(delta, int | float):
            raise DumpError("dump_invalid", f"Line {lines.number} has no timestamp (last element).")
        clock = float(delta) if clock is None else clock + float(delta)
        method = _METHODS.get(entry[0], entry[0]) if isinstance(entry[0], int | str) else None
        if not isinstance(method, str):
            raise DumpError("dump_invalid", f"Line {lines.number} has no method name.")
        key, value, extra = entry[1], entry[2], entry[3:-1]
        if key is None:
            if method == "create" and isinstance(value, dict):
                dump.meta.update(value)
                dump.user_agent_data = value.get("userAgentData")
                dump.user_agent = dump.user_agent or value.get("userAgent")
            continue
        key = str(key)
        if method.startswith("navigator.mediaDevices."):
            _rtcstats_gum(dump, key, method, value, extra, clock)
            continue
        if key not in pcs:
            pcs[key] = PeerConnectionDump(key=key, rid=_rid(key))
            keepers[key] = _Keeper(keep_every_ms)
        pc = pcs[key]
        if method == "create":
            pc.created_ms = clock
            pc.configuration = value
            if extra and isinstance(extra[0], str):
                pc.url = extra[0]
        elif method == "getStats":
            if not isinstance(value, dict):
                raise DumpError("dump_invalid", f"Line {lines.number}: getStats without a report.")
            full.setdefault(key, not isinstance(value.get("timestamp"), int | float))
            report = _report_expand(previous.get(key), value)
            if not full[key]:
                previous[key] = report
            pc.ticks_total += 1
            at = _report_time(report, clock)
            last_report[key] = (at, report)
            if keepers[key].keep(at):
                kept(pc, at, report)
        else:
            pc.events.append((clock, event_name(method), _decoded(value)))
    for key, (clock_at, line, number) in unparsed_last.items():
        lines.number = number
        report = _full_report(_line_json(line, lines), number)
        last_report[key] = (_report_time(report, clock_at), report)
    for key, (at, report) in last_report.items():
        pc = pcs[key]
        if not pc.reports or pc.reports[-1][0] != at:
            _ufrags_note(pc, report)
            pc.reports.append((at, report))
    _legacy_check(types, "The dump")
    dump.peer_connections = sorted(pcs.values(), key=lambda p: p.first_ms or 0.0)
    return dump


_GETSTATS_PREFIXES = (b'["getStats",', b"[1,", b'["g",')


def _stats_peek(line: bytes) -> tuple[str, float] | None:
    """A getStats line's connection id and time delta, without parsing its
    report (None: not that simple; parse it)."""
    try:
        start = line.index(b",") + 1
        key = orjson.loads(line[start : line.index(b",", start)])
        tail = line.rstrip()
        if not tail.endswith(b"]"):
            return None
        delta = float(tail[tail.rindex(b",") + 1 : -1])
    except (ValueError, orjson.JSONDecodeError):
        return None
    return (key, delta) if isinstance(key, str) else None


def _full_report(entry: Any, number: int) -> dict[str, dict]:
    if not isinstance(entry, list) or len(entry) < 4 or not isinstance(entry[2], dict):
        raise DumpError("dump_invalid", f"Line {number}: getStats without a report.")
    return _report_expand(None, entry[2])


def _line_json(line: bytes, lines: _Lines) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if not line.endswith(b"\n") or not line.rstrip().endswith((b"]", b"}")):
            raise DumpError(
                "dump_truncated", f"Line {lines.number} is cut short: the file is truncated."
            ) from exc
        raise DumpError("dump_invalid", f"Line {lines.number} is not JSON: {exc}.") from exc


def _report_expand(before: dict[str, dict] | None, value: dict) -> dict[str, dict]:
    """A getStats report as the browser gave it. rtcstats' compression
    hoists the common timestamp, drops unchanged properties and marks
    removed objects with null; Chrome's own exporter writes full reports."""
    hoisted = value.get("timestamp")
    if not isinstance(hoisted, int | float):
        return {k: v for k, v in value.items() if isinstance(v, dict)}
    report = {k: dict(v) for k, v in (before or {}).items()}
    for stats_id, obj in value.items():
        if stats_id == "timestamp":
            continue
        if obj is None:
            report.pop(stats_id, None)
        elif isinstance(obj, dict):
            merged = report.setdefault(stats_id, {"id": stats_id})
            merged.update(obj)
    for obj in report.values():
        obj["timestamp"] = hoisted
    return report


def _report_time(report: dict[str, dict], fallback: float) -> float:
    for obj in report.values():
        ts = obj.get("timestamp")
        if isinstance(ts, int | float):
            return float(ts)
    return fallback


def _rtcstats_gum(dump: Dump, key: str, method: str, value: Any, extra: list, clock: float) -> None:
    rid = _rid(key)
    url = next((e for e in extra if isinstance(e, str) and "://" in e), None)
    if method.endswith("OnSuccess"):
        data: dict[str, Any] = {}
        for track in value if isinstance(value, list) else []:
            if isinstance(track, list) and len(track) >= 2 and track[0] in ("audio", "video"):
                data.setdefault(track[0], []).append(
                    {
                        "id": track[1],
                        "label": track[2] if len(track) > 2 else None,
                        "kind": track[0],
                    }
                )
        dump.get_user_media.append(GumRecord(rid, clock, "getUserMedia", data, url))
    elif method.endswith("OnFailure"):
        dump.get_user_media.append(
            GumRecord(rid, clock, "getUserMedia", {"error": {"name": str(value)}}, url)
        )
    elif method in {
        "navigator.mediaDevices.getUserMedia",
        "navigator.mediaDevices.getDisplayMedia",
    }:
        constraints = value if isinstance(value, dict) else {}
        constraints = {k: _decoded(v) for k, v in constraints.items()}
        dump.get_user_media.append(
            GumRecord(
                rid,
                clock,
                "getUserMedia",
                {"constraints": constraints, "type": method.rsplit(".", 1)[-1]},
                url,
            )
        )
