from __future__ import annotations

from dataclasses import replace

import pytest
from django.test import RequestFactory

from api.common.client_ip import client_ip


def _request(remote: str = "10.0.0.5", forwarded: str | None = None):
    request = RequestFactory().get("/", REMOTE_ADDR=remote)
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


def test_without_trusted_proxies_the_socket_peer_is_the_client_whatever_the_header_says(settings):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=0)

    assert client_ip(_request("198.51.100.7", "203.0.113.1")) == "198.51.100.7"


def test_behind_one_proxy_the_address_it_appended_is_the_client(settings):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=1)

    assert client_ip(_request(forwarded="203.0.113.9")) == "203.0.113.9"


def test_addresses_a_client_wrote_before_the_proxies_entries_are_ignored(settings):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=2)

    # The client sent "1.2.3.4"; the CDN appended the client's address, nginx the CDN's.
    assert client_ip(_request(forwarded="1.2.3.4, 203.0.113.9, 198.51.100.20")) == "203.0.113.9"


def test_a_request_that_skipped_an_outer_proxy_gets_the_earliest_trusted_entry(settings):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=2)

    assert client_ip(_request(forwarded="203.0.113.9")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("203.0.113.9:51234", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
    ],
)
def test_ipv6_and_ports_in_the_header_are_understood(settings, forwarded, expected):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=1)

    assert client_ip(_request(forwarded=forwarded)) == expected


def test_garbage_in_the_header_falls_back_to_the_socket_peer(settings):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=1)

    assert client_ip(_request("10.0.0.5", "unknown")) == "10.0.0.5"
    assert client_ip(_request("10.0.0.5", "")) == "10.0.0.5"


def test_a_peer_that_is_not_an_ip_address_has_no_client_ip(settings):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=0)

    assert client_ip(_request("")) == ""
