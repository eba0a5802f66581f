from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """``754`` → ``12:34``; ``3725`` → ``1:02:05``."""
    try:
        total = int(seconds or 0)
    except (TypeError, ValueError):
        return "—"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
