"""Aware UTC datetimes and the ISO 8601 form every answer uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """``2024-01-15T10:30:00.123456Z`` (UTC, ``Z`` suffix), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def back_dated(*, delta_ms: float | int | None, at: datetime | None = None) -> datetime:
    """The moment an SDK event happened: the time of receipt minus ``delta``
    milliseconds (the SDK sets ``delta`` on queued and retried requests)."""
    received = at or now()
    if not delta_ms:
        return received
    return received - timedelta(milliseconds=delta_ms)
