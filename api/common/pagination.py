"""Pagination of list answers (reference §0.6).

A list is answered whole as ``{"data": [...]}`` (at most ``MAX_UNPAGED``
rows: a longer one is refused, asking for pages) unless the query string
carries ``limit`` or ``offset``; then it is ``{"results": [...], "count": N}``
with ``count`` the size of the whole list. The event lists, which grow by
thousands of rows per call, are always paged: by key (``cursor``, the
``next`` of the previous page) unless ``offset`` is given."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

from api.common.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far beyond any real list, and inside every database's integer range.
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int

    @property
    def stop(self) -> int:
        return self.offset + self.limit


def page_request(*, limit: int | None, offset: int | None) -> PageRequest | None:
    """None when the caller asked for the whole list. ``limit`` defaults to
    50 and is clamped to 1..200; a negative ``offset`` is 0."""
    if limit is None and offset is None:
        return None
    limit = DEFAULT_LIMIT if limit is None else min(max(limit, 1), MAX_LIMIT)
    offset = min(max(offset or 0, 0), MAX_OFFSET)
    return PageRequest(limit=limit, offset=offset)


# ------------------------------------------------------------------ keyset

# A list answered whole ({"data"}) holds at most this many rows; a longer
# one must be paged (limit/offset, or the cursor of the event lists).
MAX_UNPAGED = 1000
# The event lists are always paged by key: this many rows unless ``limit``.
DEFAULT_KEYSET_LIMIT = 100


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page starts: after the row (created_at, id)."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raises ``invalid_parameters`` for anything this never made."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at, _, pk = raw.partition("|")
            created_at = datetime.fromisoformat(at)
            if created_at.tzinfo is None:
                raise ValueError("naive")
            return cls(created_at=created_at, id=uuid.UUID(pk))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(
                "invalid_parameters", "'cursor' is not a cursor this API answered."
            ) from exc


@dataclass(frozen=True)
class KeysetRequest:
    limit: int
    after: Cursor | None


def keyset_request(*, limit: int | None, cursor: str | None) -> KeysetRequest:
    limit = DEFAULT_KEYSET_LIMIT if limit is None else min(max(limit, 1), MAX_LIMIT)
    return KeysetRequest(limit=limit, after=Cursor.decode(cursor) if cursor else None)


def unpaged_rows(queryset) -> list:
    """The whole list, refused (``invalid_parameters``) beyond MAX_UNPAGED
    rows: one statement, reading one row more than the answer may hold."""
    rows = list(queryset[: MAX_UNPAGED + 1])
    if len(rows) > MAX_UNPAGED:
        raise ApiError(
            "invalid_parameters",
            f"The list has more than {MAX_UNPAGED} rows: page it with 'limit' and 'offset'.",
        )
    return rows
