"""The SDK's two bearer tokens, carried in the JSON body as ``token``.

Init token (``/initialize`` → ``POST /sessions``): ``{"p": participant, "c":
conference, "t": issued at}`` signed with ``INIT_TOKEN_SECRET``. Session token
(every later request): ``{"s": session, "t": issued at}`` signed with
``SESSION_TOKEN_SECRET``. Both HS256, decoded with an algorithm allow-list;
every way a token can be wrong is a 401, never a 500.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from api.common.errors import ApiError

_ALGORITHMS = ["HS256"]


@dataclass(frozen=True)
class InitClaims:
    participant_id: uuid.UUID
    conference_id: uuid.UUID


def _secret(name: str) -> str:
    return getattr(settings.CONFIG, name.lower())


def init_token_issue(*, participant_id: uuid.UUID, conference_id: uuid.UUID) -> str:
    payload = {"p": str(participant_id), "c": str(conference_id), "t": time.time()}
    return jwt.encode(payload, _secret("INIT_TOKEN_SECRET"), algorithm="HS256")


def session_token_issue(*, session_id: uuid.UUID) -> str:
    payload = {"s": str(session_id), "t": time.time()}
    return jwt.encode(payload, _secret("SESSION_TOKEN_SECRET"), algorithm="HS256")


def _decode(token: Any, *, secret_name: str, lifespan_name: str, keys: tuple[str, ...]) -> dict:
    if token is None:
        raise ApiError("missing_token")
    if not isinstance(token, str) or not token or len(token) > 2048:
        raise ApiError("invalid_token")
    try:
        payload = jwt.decode(
            token,
            _secret(secret_name),
            algorithms=_ALGORITHMS,
            options={"require": [], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise ApiError("expired_token") from exc
    except jwt.PyJWTError as exc:
        raise ApiError("invalid_token") from exc
    if not isinstance(payload, dict) or any(k not in payload for k in keys):
        raise ApiError("invalid_token")
    issued = payload["t"]
    # The decoder accepts NaN and Infinity; a NaN issue time never expires.
    if isinstance(issued, bool) or not isinstance(issued, int | float) or not math.isfinite(issued):
        raise ApiError("invalid_token")
    if time.time() - issued > getattr(settings.CONFIG, lifespan_name.lower()):
        raise ApiError("expired_token")
    return payload


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ApiError("invalid_token")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ApiError("invalid_token") from exc


def init_token_verify(token: Any) -> InitClaims:
    payload = _decode(
        token,
        secret_name="INIT_TOKEN_SECRET",
        lifespan_name="INIT_TOKEN_LIFESPAN",
        keys=("p", "c", "t"),
    )
    return InitClaims(participant_id=_uuid(payload["p"]), conference_id=_uuid(payload["c"]))


def session_token_verify(token: Any) -> uuid.UUID:
    """The session id the token names. The session row itself is not read
    here: the caller reads it (or a connection of it) in its own query.

    A page sends the same token with every request, so a verified token is
    remembered (signature checking is the largest cost of a stats request
    after the database); its expiry is still checked every time."""
    if isinstance(token, str):
        known = _verified_sessions.get(token)
        if known is not None:
            session_id, issued = known
            if time.time() - issued > settings.CONFIG.session_token_lifespan:
                raise ApiError("expired_token")
            return session_id
    payload = _decode(
        token,
        secret_name="SESSION_TOKEN_SECRET",
        lifespan_name="SESSION_TOKEN_LIFESPAN",
        keys=("s", "t"),
    )
    session_id = _uuid(payload["s"])
    if len(_verified_sessions) >= _VERIFIED_LIMIT:
        _verified_sessions.clear()
    _verified_sessions[token] = (session_id, payload["t"])
    return session_id


# token → (session id, issued at). Bounded; cleared when full (a page's next
# request simply verifies its token again). Keyed by the whole token, so a
# token is only found here if its signature was verified with the current
# secret by this process.
_verified_sessions: dict[str, tuple[uuid.UUID, float]] = {}
_VERIFIED_LIMIT = 100_000


@receiver(setting_changed)
def _forget_verified_tokens(setting: str, **kwargs) -> None:
    # A changed secret must not keep accepting tokens verified with the old one.
    if setting == "CONFIG":
        _verified_sessions.clear()
