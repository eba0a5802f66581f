"""Privacy on by default: what the SDK sends about the network and the
person is scrubbed before it is stored, in every place an address can
appear (candidate events, SDP, stats reports), and so in everything read
from storage (the query API, the admin). Per app, addresses can be hashed
or kept, and names kept."""

from __future__ import annotations

import json

import pytest

from api.events.models import GenericEvent, StatsSample
from api.events.privacy import address_scrub, sdp_scrub
from api.ingest.tests.fake_sdk import captured_body, stats_report
from api.query.tests.conftest import ApiClient
from api.tenancy.models import App, Membership, User
from conftest import CAPTURED_API_KEY

pytestmark = pytest.mark.django_db

PUBLIC = "203.0.113.77"  # the browser's address as a STUN server saw it
PUBLIC_V6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348"


@pytest.fixture
def app(organization) -> App:
    """An app with the privacy defaults (the shared fixture keeps all)."""
    return App.objects.create(organization=organization, name="Private", api_key=CAPTURED_API_KEY)


def _public(value):
    """A captured body with the loopback address a headless browser
    reported replaced by public ones."""
    text = json.dumps(value).replace("127.0.0.1", PUBLIC)
    return json.loads(text)


@pytest.fixture
def call(page):
    alice = page("alice").join()
    page("bob").join()
    return alice, alice.add_connection("bob")


def _stored_text() -> str:
    events = [json.dumps(e.data) for e in GenericEvent.objects.all()]
    samples = [json.dumps(s.data) for s in StatsSample.objects.all()]
    return "\n".join(events + samples)


def test_candidate_event_addresses_are_truncated_and_ice_credentials_removed(call):
    alice, link = call
    candidate = _public(captured_body("/v1/connection", "onicecandidate")["data"])
    candidate["relatedAddress"] = PUBLIC_V6

    assert alice.connection_event(link, "onicecandidate", candidate).status == 200

    stored = GenericEvent.objects.get(type="onicecandidate").data
    assert stored["address"] == "203.0.113.0"
    assert stored["relatedAddress"] == "2001:db8:85a3::"
    assert stored["candidate"].startswith("candidate:2566679395 1 udp 2122260223 203.0.113.0 ")
    assert " typ host" in stored["candidate"] and " ufrag " not in stored["candidate"]
    assert (stored["type"], stored["protocol"]) == ("host", "udp")
    assert "usernameFragment" not in stored


def test_sdp_loses_its_ice_credentials_and_fingerprints_and_its_addresses(call):
    alice, link = call
    body = _public(
        next(
            captured_body("/v1/connection", "onsignalingstatechange", nth=n)
            for n in range(10)
            if (captured_body("/v1/connection", "onsignalingstatechange", nth=n)["data"] or {}).get(
                "localDescription"
            )
        )
    )
    sdp = body["data"]["localDescription"]["sdp"]
    sdp += f"a=candidate:1 1 udp 2113937151 {PUBLIC} 54400 typ srflx raddr 10.1.2.3 rport 9\r\n"
    body["data"]["localDescription"]["sdp"] = sdp
    assert "a=ice-pwd:" in sdp and "a=fingerprint:" in sdp

    assert alice.connection_event(link, "onsignalingstatechange", body["data"]).status == 200

    stored = GenericEvent.objects.get(type="onsignalingstatechange").data
    kept = stored["localDescription"]["sdp"]
    for secret in ("a=ice-pwd:", "a=ice-ufrag:", "a=fingerprint:"):
        assert secret not in kept
    assert PUBLIC not in kept and "10.1.2.3" not in kept
    assert "IN IP4 203.0.113.0" in kept
    assert "203.0.113.0 54400 typ srflx raddr 10.1.2.0 rport 9" in kept
    assert "a=group:BUNDLE" in kept  # the rest of the SDP is kept


def test_stats_reports_keep_the_candidate_type_and_protocol_but_not_the_address(call):
    alice, link = call
    report = _public(stats_report())

    assert alice.stats(link, report).status == 200

    stored = StatsSample.objects.get().data
    local, remote = stored["connection"]["local"], stored["connection"]["remote"]
    assert (local["address"], local["ip"], remote["address"]) == ("203.0.113.0",) * 3
    assert (local["candidateType"], local["protocol"]) == ("host", "udp")
    assert "usernameFragment" not in local
    assert stored["audio"] == report["audio"]  # the RTP reports as sent


def test_nothing_stored_or_served_names_the_address(call, admin_client):
    alice, link = call
    owner = User.objects.create_user(username="owner", password="pw")
    Membership.objects.create(user=owner, organization=alice.session.app.organization, role="owner")
    alice.connection_event(
        link, "onicecandidate", _public(captured_body("/v1/connection", "onicecandidate")["data"])
    )
    alice.stats(link, _public(stats_report()))
    event = GenericEvent.objects.get(type="onicecandidate")
    sample = StatsSample.objects.get()

    served = ApiClient(owner).get(f"/v1/conferences/{alice.session.conference_id}/events").raw
    admin_pages = b"".join(
        admin_client.get(path).content
        for path in (
            f"/admin/events/genericevent/{event.pk}/change/",
            f"/admin/events/statssample/{sample.pk}/change/",
        )
    )

    assert PUBLIC not in _stored_text()
    assert PUBLIC.encode() not in served
    assert b"203.0.113.0" in served
    assert PUBLIC.encode() not in admin_pages


def test_an_app_may_hash_addresses_instead(call, app):
    App.objects.filter(pk=app.pk).update(address_privacy="hash")
    from api.tenancy.app_state import app_states_changed

    app_states_changed()
    alice, link = call

    alice.stats(link, _public(stats_report()))

    local = StatsSample.objects.get().data["connection"]["local"]
    assert local["address"].startswith("h-") and local["address"] == local["ip"]
    assert PUBLIC not in _stored_text()


def test_names_are_kept_only_when_the_app_allows(page, app):
    from api.calls.models import Participant

    alice = page("alice")
    alice.initialize(userName="Alice Liddell")
    alice.start_session()
    page("bob").join()
    alice.add_connection("bob", peerName="Bob Builder")
    assert set(Participant.objects.values_list("participant_name", flat=True)) == {None}

    App.objects.filter(pk=app.pk).update(keep_user_names=True)
    from api.tenancy.app_state import app_states_changed

    app_states_changed()
    carol = page("carol")
    carol.initialize(userName="Carol")

    assert Participant.objects.get(participant_id="carol").participant_name == "Carol"


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("198.51.100.23", "truncate", "198.51.100.0"),
        ("2001:db8::1", "truncate", "2001:db8::"),
        ("a1b2c3.local", "truncate", "a1b2c3.local"),
        ("198.51.100.23", "keep", "198.51.100.23"),
    ],
)
def test_address_scrub(value, mode, expected):
    assert address_scrub(value, mode=mode, secret="s") == expected


def test_sdp_scrub_keeps_line_endings():
    sdp = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\na=ice-pwd:secret\r\n"

    assert sdp_scrub(sdp, mode="truncate", secret="s") == "v=0\r\no=- 1 2 IN IP4 192.0.2.0\r\n"


def test_exports_hold_the_scrubbed_addresses_only(call):
    alice, link = call
    owner = User.objects.create_user(username="exporter", password="pw")
    Membership.objects.create(user=owner, organization=alice.session.app.organization, role="owner")
    alice.connection_event(
        link, "onicecandidate", _public(captured_body("/v1/connection", "onicecandidate")["data"])
    )
    alice.stats(link, _public(stats_report()))
    client = ApiClient(owner)

    response = client.client.get(
        f"/v1/conferences/{alice.session.conference_id}/export", **client.headers
    )
    body = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert b'"record":"call"' in body
    assert PUBLIC.encode() not in body


def test_an_imported_dump_is_scrubbed_like_live_samples(app, organization):
    from django.test import TestCase

    from api.interop.tests.conftest import DUMPS, upload

    owner = User.objects.create_user(username="importer", password="pw")
    Membership.objects.create(user=owner, organization=organization, role="owner")
    raw = (DUMPS / "call2p-30s-loss10.webrtc_internals_dump.txt").read_bytes()
    assert b"127.0.0.1" in raw or b"candidate" in raw
    public = raw.replace(b"127.0.0.1", PUBLIC.encode())

    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = upload(ApiClient(owner), app.pk, "call.txt", public)

    assert answer.status == 201, answer
    assert StatsSample.objects.exists()
    # (the dump's page URL, in peerDetails, names the app's page, not a peer)
    peer_details = GenericEvent.objects.filter(type="peerDetails")
    stored = [json.dumps(s.data) for s in StatsSample.objects.all()] + [
        json.dumps(e.data) for e in GenericEvent.objects.exclude(pk__in=peer_details)
    ]
    assert stored and not [text for text in stored if PUBLIC in text]
