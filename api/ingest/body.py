"""Reading SDK request bodies: JSON whatever the Content-Type (the SDK sends
``text/plain`` so that its POSTs need no CORS preflight), always an object,
and typed accessors that turn every wrong value into a 400."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from api.common.errors import ApiError
from api.common.time import back_dated

# A retried request is back-dated by at most a day; anything larger is a
# client bug and would put the event before its own session.
MAX_DELTA_MS = 86_400_000

# Nesting the SDK never comes near (its reports are 6 levels deep). Deeper
# bodies would make the recursive JSON encoders of the storage layer fail
# (Python's stops near 1000 levels, the parser lets 1024 through). A body
# with fewer brackets than this cannot be deeper, so the SDK's bodies cost
# two byte counts and no walk.
MAX_DEPTH = 64


def body_bytes(request: HttpRequest) -> bytes:
    length = request.META.get("CONTENT_LENGTH")
    if length and length.isdigit() and int(length) > settings.CONFIG.max_body_bytes:
        raise ApiError("body_too_large")
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise ApiError("body_too_large") from exc
    if len(raw) > settings.CONFIG.max_body_bytes:
        raise ApiError("body_too_large")
    return raw


def body_parse(request: HttpRequest) -> dict[str, Any]:
    return _body_checked(body_bytes(request))


def _body_checked(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError("invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError("invalid_json")
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
        raise ApiError(
            "invalid_json", f"The request body is nested more than {MAX_DEPTH} levels deep."
        )
    if _NUL_ESCAPE in raw:
        body = _without_nul(body)
    return body


class StatsBody(msgspec.Struct):
    """The keys of a ``/v1/stats`` body the server reads. ``data`` (the ~8 KB
    getStats() report) stays the raw JSON bytes the SDK sent: it is stored
    as sent and analysed later (by the worker, with the queued sink), so the
    request never builds Python objects for it."""

    token: Any = None
    connectionId: Any = None  # noqa: N815  (the SDK's key)
    delta: Any = None
    data: msgspec.Raw = msgspec.Raw(b"")  # empty when absent


_stats_decoder = msgspec.json.Decoder(StatsBody)


def stats_body_decode(raw: bytes) -> StatsBody:
    """The body of a ``/v1/stats`` request, its size already checked."""
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH or _NUL_ESCAPE in raw:
        # Rare shapes take the general path, with its depth and NUL checks.
        body = _body_checked(raw)
        data = body.get("data")
        return StatsBody(
            token=body.get("token"),
            connectionId=body.get("connectionId"),
            delta=body.get("delta"),
            data=msgspec.Raw(b"" if data is None else orjson.dumps(data)),
        )
    try:
        # msgspec does not check the UTF-8 of strings it skips; the raw
        # report is stored and parsed later, so it must be valid here
        # (ASCII, what the SDK's reports are, is, and is checked without
        # building a copy).
        if not raw.isascii():
            raw.decode("utf-8")
        return _stats_decoder.decode(raw)
    except (UnicodeDecodeError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ApiError("invalid_json") from exc


@dataclass(frozen=True)
class StatsSampleIn:
    """A stats sample as the request gave it, checked: whose it says it is
    (the session of its token, the connection it names), when it was taken
    and the report, the JSON bytes the SDK sent."""

    session_id: uuid.UUID
    connection_id: uuid.UUID
    at: datetime
    raw: bytes


def stats_sample_parse(body: StatsBody, *, session_id: uuid.UUID) -> StatsSampleIn:
    """The sample of a parsed ``/v1/stats`` body whose token named
    ``session_id``. Raises ``missing_parameters`` (no connectionId),
    ``connection_not_found`` (not a UUID: it names nothing),
    ``invalid_parameters`` (``data`` is not an object, bad ``delta``)."""
    if body.connectionId is None:
        raise ApiError("missing_parameters", "'connectionId' is required.")
    connection_id = opt_uuid(
        {"connectionId": body.connectionId}, "connectionId", not_found="connection_not_found"
    )
    assert connection_id is not None
    raw = bytes(body.data)
    if not raw.lstrip()[:1] == b"{":
        raise ApiError("invalid_parameters", "'data' must be an object.")
    at = back_dated(delta_ms=delta_ms({"delta": body.delta}))
    return StatsSampleIn(session_id=session_id, connection_id=connection_id, at=at, raw=raw)


def _deeper_than(body: dict, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


# JSON can only carry a NUL character escaped, so a body without this byte
# sequence has none: the check costs one scan of the raw bytes.
_NUL_ESCAPE = b"\\u0000"


def _without_nul(value: Any) -> Any:
    """PostgreSQL stores no NUL in text or jsonb (the insert would fail), so
    NULs in anything the client sent become U+FFFD, the replacement
    character."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def opt_str(body: dict, key: str, *, max_length: int, truncate: bool = False) -> str | None:
    """A string or absent/null. Too long: truncated where the seed truncated,
    refused elsewhere."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError("invalid_parameters", f"'{key}' must be a string.")
    if len(value) > max_length:
        if truncate:
            return value[:max_length]
        raise ApiError("invalid_parameters", f"'{key}' is longer than {max_length} characters.")
    return value


def req_str(body: dict, key: str, *, max_length: int, truncate: bool = False) -> str:
    value = opt_str(body, key, max_length=max_length, truncate=truncate)
    if not value:
        raise ApiError("missing_parameters", f"'{key}' is required.")
    return value


def opt_uuid(body: dict, key: str, *, not_found: str) -> uuid.UUID | None:
    """A UUID string or absent. Anything else names nothing that exists, so
    it is answered like an unknown id (``not_found``)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ApiError(not_found)


def delta_ms(body: dict) -> float:
    value = body.get("delta")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError("invalid_parameters", "'delta' must be a number of milliseconds.")
    if value < 0 or value > MAX_DELTA_MS:
        raise ApiError("invalid_parameters", "'delta' must be between 0 and 86400000.")
    return value


# ------------------------------------------------------------------ events

ICE_CONNECTION_STATES = {
    "new",
    "checking",
    "connected",
    "completed",
    "failed",
    "disconnected",
    "closed",
}
CONNECTION_STATES = {"new", "connecting", "connected", "disconnected", "failed", "closed"}
ICE_GATHERING_STATES = {"new", "gathering", "complete"}
SIGNALING_STATES = {
    "stable",
    "have-local-offer",
    "have-remote-offer",
    "have-local-pranswer",
    "have-remote-pranswer",
    "closed",
}
# Events that drive the connection's state: the values a browser sends.
_STATE_VALUES = {
    "oniceconnectionstatechange": ICE_CONNECTION_STATES,
    "onconnectionstatechange": CONNECTION_STATES,
    "onicegatheringstatechange": ICE_GATHERING_STATES,
    "onsignalingstatechange": SIGNALING_STATES,
}
CANDIDATE_KEYS = (
    "address",
    "candidate",
    "component",
    "foundation",
    "port",
    "priority",
    "protocol",
    "relatedAddress",
    "relatedPort",
    "sdpMLineIndex",
    "sdpMid",
    "tcpType",
    "type",
    "usernameFragment",
)


def event_data_parse(event_name: str, body: dict) -> Any:
    """The stored ``data`` of an event, checked where the event drives state
    (``invalid_parameters`` for a state no browser sends)."""
    data = body.get("data")
    allowed = _STATE_VALUES.get(event_name)
    if allowed is not None:
        state = data
        if event_name == "onsignalingstatechange":
            state = data.get("signalingState") if isinstance(data, dict) else None
        # Checked as a string first: a list or an object is not hashable.
        if not isinstance(state, str) or state not in allowed:
            raise ApiError("invalid_parameters", f"'data' is not valid for {event_name}.")
    if event_name == "onicecandidate" and isinstance(data, dict):
        data = {k: data[k] for k in CANDIDATE_KEYS if data.get(k) is not None}
    if event_name == "mediaDeviceChange" and data is None:
        data = {"devices": body.get("devices")}
    if event_name == "tabFocus" and data is None:
        data = {"focus": body.get("focus")}
    return data


def meta_validate(value: Any) -> dict | None:
    """Session ``meta``: at most 5 keys of at most 64 characters, values
    strings under 128 characters, integers or booleans."""
    if not value:
        return None
    if not isinstance(value, dict) or len(value) > 5:
        raise ApiError("invalid_meta")
    for key, item in value.items():
        if len(key) > 64:
            raise ApiError("invalid_meta")
        if isinstance(item, str):
            if len(item) >= 128:
                raise ApiError("invalid_meta")
        elif not isinstance(item, bool | int):
            raise ApiError("invalid_meta")
    return value
