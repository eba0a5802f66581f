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


@functools.lru_cache(maxsize=16_384)
def _owner_decode(tail: bytes) -> tuple[ConnectionState, uuid.UUID, str | None]:
    """The connection's state and id from a header's tail (see
    :func:`_header_tail`): the same bytes for every sample of a
    connection, so its six UUIDs are parsed once, not per sample."""
    h = orjson.loads(b"[" + tail)
    state = ConnectionState(
        app_id=uuid.UUID(h[0]),
        conference_id=uuid.UUID(h[1]),
        session_id=uuid.UUID(h[2]),
        participant_id=uuid.UUID(h[3]),
        peer_id=uuid.UUID(h[4]),
        type=h[6],
        ended=False,
    )
    # Messages queued by an earlier version carry the digest after the type.
    return state, uuid.UUID(h[5]), h[7] if len(h) > 7 else None


def message_decode(message: bytes) -> QueuedSample:
    header_bytes, _, raw = message.partition(b"\n")
    # ``["<32 hex>",<time>,<tail>``: the sample's own fields, then the
    # connection's.
    at_end = header_bytes.index(b",", 36)
    if header_bytes[:2] != b'["' or header_bytes[34:36] != b'",':
        raise ValueError("not a queued stats message")
    state, connection_id, digest = _owner_decode(header_bytes[at_end + 1 :])
    return QueuedSample(
        sample_id=uuid.UUID(header_bytes[2:34].decode()),
        at=datetime.fromtimestamp(orjson.loads(header_bytes[36:at_end]), UTC),
        state=state,
        connection_id=connection_id,
        # The digest is the worker's to compute.
        digest=bytes.fromhex(digest) if digest is not None else report_digest(raw),
        raw=raw,
    )
