"""Where a webhook may be sent: http or https URLs with a host, and not
to private, loopback, link-local or otherwise non-public addresses (a
webhook must not reach into the server's own network) unless
``WEBHOOK_ALLOW_PRIVATE_TARGETS`` allows them. Checked when an endpoint
is saved (the URL; an address literal) and again before every attempt
(the addresses its host resolves to then)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from api.common.errors import ApiError


def private_allowed() -> bool:
    override = getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", None)
    if override is not None:
        return bool(override)
    return bool(settings.CONFIG.webhook_allow_private_targets)


def _refused(message: str) -> ApiError:
    return ApiError("invalid_webhook_url", message)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check(url: str) -> str:
    """The URL if it may be saved, else ``invalid_webhook_url``."""
    if not isinstance(url, str) or len(url) > 2000:
        raise _refused("The URL must be text of at most 2000 characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise _refused("The URL is malformed.") from exc
    if parts.scheme not in {"http", "https"}:
        raise _refused("Only http and https URLs can receive webhooks.")
    host = parts.hostname
    if not host:
        raise _refused("The URL has no host.")
    if port == 0:
        raise _refused("The URL's port is not valid.")
    if not private_allowed():
        if host == "localhost" or host.endswith(".localhost"):
            raise _refused("Loopback addresses cannot receive webhooks.")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not _public(host):
            raise _refused("Private, loopback and link-local addresses cannot receive webhooks.")
    return url.strip()


def resolved_check(host: str, port: int) -> None:
    """Before an attempt: every address ``host`` resolves to must be
    public (unless allowed). Raises ``OSError`` when it cannot be resolved
    and ``PermissionError`` when an address is refused."""
    if private_allowed():
        return
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(info[4][0])
        if not _public(address):
            raise PermissionError(f"{host} resolves to {address}, a non-public address.")
