"""Opt-in pagination of list answers (reference §0.6).

A list is answered whole as ``{"data": [...]}`` unless the query string
carries ``limit`` or ``offset``; then it is ``{"results": [...], "count": N}``
with ``count`` the size of the whole list."""

from __future__ import annotations

from dataclasses import dataclass

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
