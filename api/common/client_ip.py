"""The address of the client behind the trusted proxies.

Each proxy in front of the server appends the address it received the
request from to ``X-Forwarded-For``. With ``TRUSTED_PROXY_HOPS`` = N, the
last N entries were written by proxies we run, so the client is the N-th
entry from the right; anything further left was written by the client and
proves nothing. With N = 0 (the default: the server faces the clients) the
header is ignored and the socket's peer address is the client.

Written here rather than taken from django-ipware: its ``proxy_count``
counts the proxies listed inside the header, and it reads a dozen other
headers that a client can set; this is the one rule the deployment docs
describe, in a few lines.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:51234"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's IP address as a string; ``""`` when the socket's peer
    address is not an IP address (a Unix socket) and no trusted proxy said."""
    peer = request.META.get("REMOTE_ADDR", "")
    hops = settings.CONFIG.trusted_proxy_hops
    if hops:
        forwarded = [
            entry for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry
        ]
        if forwarded:
            # Fewer entries than hops: the request skipped an outer proxy, and
            # every entry present was still written by one of ours; the
            # leftmost is the earliest address a trusted proxy saw.
            candidate = _valid(forwarded[-hops] if len(forwarded) >= hops else forwarded[0])
            if candidate is not None:
                return candidate
    return _valid(peer) or ""
