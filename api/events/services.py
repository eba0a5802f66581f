"""Storing SDK events.

Retried requests (the SDK retries stats, tracks and ``endCall`` up to six
times, back-dating each retry with ``delta``) must not be stored twice: every
event carries a fingerprint of what the SDK sent, and a request that carries
``delta`` is checked against the events of its session with that fingerprint
around the same back-dated time.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import transaction

from api.calls import services as calls
from api.calls.models import Conference, Session
from api.events.models import GenericEvent
from api.events.selectors import last_activity, with_last_activity

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


def conference_close_stale(
    *, conference_id: uuid.UUID, idle_since: datetime
) -> tuple[calls.Ended, datetime] | None:
    """Close an idle conference at its last activity (its connections,
    sessions and billed time stop there, not at the time of the cleanup).

    Runs in its own transaction holding the conference lock, and checks
    again under it: a conference that ended or woke up since it was found
    is left alone (returns None). Returns what ended (for the caller to
    announce) and the time it was closed at."""
    with transaction.atomic():
        conference = (
            with_last_activity(Conference.objects.select_for_update(no_key=True, of=("self",)))
            .filter(pk=conference_id, ongoing=True)
            .first()
        )
        if conference is None:
            return None
        closed_at = last_activity(conference)
        if closed_at >= idle_since:
            return None
        ended = calls.conference_stop(conference=conference, at=closed_at)
    return ended, closed_at
