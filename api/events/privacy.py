"""What is kept of the network addresses and ICE secrets the SDK sends,
before anything is stored (events, stats reports). Pure functions.

A WebRTC client reports its own and its peer's IP addresses (ICE
candidates in ``onicecandidate`` events, the SDP of signaling events, the
selected candidate pair of every stats report) and the ICE credentials
and certificate fingerprints of the connection. None of that is needed to
judge a call's quality: the candidate's type (host, srflx, prflx, relay),
its protocol and the relay protocol are; they are kept.

Per app (``App.address_privacy``):

* ``truncate`` (the default): IPv4 addresses keep their /24 network
  (``203.0.113.0``), IPv6 their /48;
* ``hash``: an address becomes ``h-`` and 12 hex characters of an HMAC
  under the server's secret: the same address is the same string within
  the install, which tells peers apart without saying where they are;
* ``keep``: stored as sent (an operator who has a lawful need).

Always, whatever the mode: ``a=ice-ufrag``, ``a=ice-pwd`` and
``a=fingerprint`` lines leave the SDP, the ``ufrag`` of candidate lines and
the ``usernameFragment``/``password``/``fingerprint``/``base64Certificate``
fields leave events and reports.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
from typing import Any

TRUNCATE, HASH, KEEP = "truncate", "hash", "keep"

_ADDRESS_KEYS = frozenset({"address", "ip", "relatedAddress", "url"})
_SECRET_KEYS = frozenset(
    {"usernameFragment", "password", "fingerprint", "base64Certificate", "iceLocalUsernameFragment"}
)
_SDP_SECRET = re.compile(r"^a=(ice-ufrag|ice-pwd|fingerprint):", re.IGNORECASE)
_IN_IP = re.compile(r"(IN IP[46] )(\S+)")
_CANDIDATE_SECRET = re.compile(r" ufrag \S+")
_RTP_PARTS = frozenset({"audio", "video", "remote"})


def address_scrub(value: str, *, mode: str, secret: str) -> str:
    """An IP address as the mode keeps it; anything else (an mDNS
    ``….local`` name, a URL without an address) unchanged."""
    if mode == KEEP:
        return value
    return _address_scrubbed(value, mode, secret)


# Every stats report of a connection names the same few candidate
# addresses: parsing each with ipaddress cost more than the rest of the
# scrubbing. The cache is bounded (a few MB at most), keyed by the secret
# too, and holds addresses as sent in this process's memory only.
@functools.lru_cache(maxsize=65_536)
def _address_scrubbed(value: str, mode: str, secret: str) -> str:
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        # STUN/TURN URLs ("turn:198.51.100.4:3478?transport=udp") name a server.
        return value
    if mode == HASH:
        digest = hmac.new(secret.encode(), address.packed, hashlib.sha256).hexdigest()
        return f"h-{digest[:12]}"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def candidate_scrub(line: str, *, mode: str, secret: str) -> str:
    """An ``a=candidate:``/``candidate:`` line: its address and related
    address scrubbed, its ``ufrag`` removed; foundation, component,
    protocol, priority, port and ``typ`` kept."""
    line = _CANDIDATE_SECRET.sub("", line)
    parts = line.split(" ")
    if len(parts) > 4:
        parts[4] = address_scrub(parts[4], mode=mode, secret=secret)
    for index, part in enumerate(parts[:-1]):
        if part == "raddr":
            parts[index + 1] = address_scrub(parts[index + 1], mode=mode, secret=secret)
    return " ".join(parts)


def sdp_scrub(sdp: str, *, mode: str, secret: str) -> str:
    """An SDP without ICE credentials and fingerprints, its addresses scrubbed."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    kept = []
    for line in sdp.split(newline):
        if _SDP_SECRET.match(line):
            continue
        if line.startswith("a=candidate:"):
            line = candidate_scrub(line, mode=mode, secret=secret)
        elif "IN IP" in line:
            line = _IN_IP.sub(
                lambda m: m.group(1) + address_scrub(m.group(2), mode=mode, secret=secret), line
            )
        kept.append(line)
    return newline.join(kept)


def data_scrub(value: Any, *, mode: str, secret: str) -> Any:
    """Any event's ``data`` or stats report (a copy): addresses, candidate
    lines and SDPs scrubbed, ICE secrets removed, wherever they are."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key in _SECRET_KEYS:
                continue
            if isinstance(item, str):
                if key in _ADDRESS_KEYS:
                    item = address_scrub(item, mode=mode, secret=secret)
                elif key == "candidate" and item.startswith("candidate:"):
                    item = candidate_scrub(item, mode=mode, secret=secret)
                elif key == "sdp" or "a=ice-pwd" in item or "a=candidate" in item:
                    item = sdp_scrub(item, mode=mode, secret=secret)
                result[key] = item
            elif isinstance(item, dict | list):
                result[key] = data_scrub(item, mode=mode, secret=secret)
            else:
                result[key] = item  # a number, a boolean, null
        return result
    if isinstance(value, list):
        return [data_scrub(item, mode=mode, secret=secret) for item in value]
    return value


def report_scrub(report: Any, *, mode: str, secret: str) -> Any:
    """A stats report of the SDK (a shallow copy): the local and remote
    candidates of its selected pair (``connection.local``/``.remote``,
    where the SDK puts them) scrubbed, and any other part that is not an
    RTP stream report; the RTP reports (``audio``, ``video``, and the
    peer's view of them, ``remote``) name no address and are left as they
    are: the walk covers a few small objects of each sample, not its
    whole report."""
    if not isinstance(report, dict):
        return data_scrub(report, mode=mode, secret=secret)
    scrubbed = dict(report)
    for key, item in report.items():
        if key in _RTP_PARTS:
            continue
        if key == "connection" and isinstance(item, dict):
            pair = dict(item)
            for side in ("local", "remote"):
                if isinstance(item.get(side), dict):
                    pair[side] = data_scrub(item[side], mode=mode, secret=secret)
            scrubbed[key] = pair
        else:
            scrubbed[key] = data_scrub(item, mode=mode, secret=secret)
    return scrubbed
