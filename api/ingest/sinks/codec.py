"""The queued sink's message: one accepted stats sample as it travels
through the spool and the Redis stream to the worker. Hot path.

A message is a JSON array header (the sample id, its time, the
connection's owner and type), a newline, and the report as the SDK sent it:
the ~8 KB report is neither parsed nor re-encoded on the way.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from api.events.writer import report_digest
from api.ingest.body import StatsSampleIn
from api.ingest.sinks.connections import ConnectionState


@functools.lru_cache(maxsize=16_384)
def _header_tail(state: ConnectionState, connection_id: uuid.UUID) -> bytes:
    """The end of a message header, the same for every sample of a
    connection: ``"app","conference",…,"type"]``."""
    return orjson.dumps(
        [
            state.app_id.hex,
            state.conference_id.hex,
            state.session_id.hex,
            state.participant_id.hex,
            state.peer_id.hex,
            connection_id.hex,
            state.type,
        ]
    )[1:]


def message_encode(sample_id: uuid.UUID, state: ConnectionState, sample: StatsSampleIn) -> bytes:
    return b'["%b",%b,%b\n%b' % (
        sample_id.hex.encode(),
        orjson.dumps(sample.at.timestamp()),
        _header_tail(state, sample.connection_id),
        sample.raw,
    )


@dataclass(frozen=True)
class QueuedSample:
    sample_id: uuid.UUID
    at: datetime
    state: ConnectionState
    connection_id: uuid.UUID
    digest: bytes
    raw: bytes


def message_decode(message: bytes) -> QueuedSample:
    header_bytes, _, raw = message.partition(b"\n")
    h = orjson.loads(header_bytes)
    return QueuedSample(
        sample_id=uuid.UUID(h[0]),
        at=datetime.fromtimestamp(h[1], UTC),
        state=ConnectionState(
            app_id=uuid.UUID(h[2]),
            conference_id=uuid.UUID(h[3]),
            session_id=uuid.UUID(h[4]),
            participant_id=uuid.UUID(h[5]),
            peer_id=uuid.UUID(h[6]),
            type=h[8],
            ended=False,
        ),
        connection_id=uuid.UUID(h[7]),
        # The digest is the worker's to compute; messages queued by an
        # earlier version carry it as a tenth field.
        digest=bytes.fromhex(h[9]) if len(h) > 9 else report_digest(raw),
        raw=raw,
    )
