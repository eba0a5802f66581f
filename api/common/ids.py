"""Time-ordered UUIDs (RFC 9562 version 7).

High-volume rows (events, stats samples) get ids that grow with time, so their
primary-key index is appended to instead of written at random pages."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand_a = int.from_bytes(os.urandom(2), "big") & 0x0FFF
    rand_b = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def uuid7_seconds(value: uuid.UUID) -> float:
    """The Unix time (to the millisecond) a ``uuid7`` was made at."""
    return (value.int >> 80) / 1000
