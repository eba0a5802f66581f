"""Call-quality analysis entry points, called by the ingest path.

They are the seams where metric extraction and live detection plug in. Each
runs inside the transaction of the request that brought the data, after the
data itself was stored; they must not raise for malformed reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SampleContext:
    """What the ingest path knows about a stored stats sample."""

    sample_id: Any
    app_id: Any
    conference_id: Any
    session_id: Any
    participant_id: Any
    peer_id: Any
    connection_id: Any
    created_at: datetime
    # (direction, kind, track identifier) → Track id, for the reports that name a track.
    track_ids: dict[tuple[str, str, str], Any]


def sample_received(*, context: SampleContext, data: dict) -> None:
    """A stats sample was stored. Metrics and detectors run here."""


def session_started(*, session: Any) -> None:
    """A session was created (``POST /sessions``)."""


def event_received(*, event: Any) -> None:
    """A browser/getUserMedia/connection/track event was stored."""


def session_ended(*, session: Any, at: datetime) -> None:
    """A session ended (endCall, unload, stale cleanup)."""


def conference_ended(*, conference: Any, at: datetime) -> None:
    """The last open connection of a conference ended."""
