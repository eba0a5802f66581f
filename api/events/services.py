"""Storing SDK events.

Retried requests (the SDK retries stats, tracks and ``endCall`` up to six
times, back-dating each retry with ``delta``) must not be stored twice: every
event carries a fingerprint of what the SDK sent, and a request that carries
``delta`` is checked against the events of its session with that fingerprint
around the same back-dated time.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson

from api.calls.models import Session
from api.events.models import GenericEvent

# How far apart the back-dated times of an original request and its retry
# may be: the retry's ``delta`` is measured from the moment the event
# happened, so the two differ only by network and queueing latency, at most
# the SDK's 10 s request timeout.
RETRY_WINDOW = timedelta(seconds=15)

# Keys that differ between an original request and its retry.
_VOLATILE_KEYS = {"token", "delta"}


def fingerprint(*, route: str, body: dict[str, Any]) -> str:
    stable = {k: v for k, v in body.items() if k not in _VOLATILE_KEYS}
    raw = route.encode() + b"\0" + orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def event_store(
    *,
    session: Session,
    category: str,
    type: str,
    data: Any,
    at: datetime,
    fingerprint: str,
    is_retry: bool,
    connection_id: Any = None,
    peer_id: Any = None,
    track_id: Any = None,
) -> tuple[GenericEvent, bool]:
    """Store one event. Returns ``(event, created)``; ``created`` is False
    when the request is a retry of an event already stored."""
    if is_retry:
        existing = GenericEvent.objects.filter(
            session_id=session.pk,
            fingerprint=fingerprint,
            created_at__gte=at - RETRY_WINDOW,
            created_at__lte=at + RETRY_WINDOW,
        ).first()
        if existing is not None:
            return existing, False
    event = GenericEvent.objects.create(
        app_id=session.app_id,
        conference_id=session.conference_id,
        participant_id=session.participant_id,
        session_id=session.pk,
        connection_id=connection_id,
        peer_id=peer_id,
        track_id=track_id,
        type=type,
        category=category,
        data=data,
        fingerprint=fingerprint,
        created_at=at,
    )
    return event, True
