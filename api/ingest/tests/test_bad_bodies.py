"""Whatever a client sends to an SDK route, the answer is JSON: a 2xx the SDK
can parse, or a 4xx with the error body. Never a 500 (the SDK retries those
six times, multiplying the load of a broken client)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api.calls.models import Participant, Session
from api.common.errors import CATALOGUE
from api.events.models import GenericEvent
from api.ingest.body import MAX_DEPTH
from api.ingest.tests.fake_sdk import captured_body

# (method, path) of every SDK route.
ROUTES = [
    ("POST", "/v1/initialize"),
    ("POST", "/v1/sessions"),
    ("PUT", "/v1/sessions"),
    ("POST", "/v1/events/get-user-media"),
    ("POST", "/v1/events/browser"),
    ("POST", "/v1/connection"),
    ("POST", "/v1/connection/batch"),
    ("POST", "/v1/stats"),
    ("POST", "/v1/tracks"),
    ("PUT", "/v1/tracks"),
    ("POST", "/v1/services/get-url"),
    ("POST", "/v1/services/stop-conference"),
]

NOT_AN_OBJECT = [
    pytest.param(b"", id="empty"),
    pytest.param(b"not json", id="not-json"),
    pytest.param(b"{", id="truncated"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"x"', id="string"),
    pytest.param(b"1", id="number"),
    pytest.param(b"null", id="null"),
    pytest.param(b"true", id="true"),
    pytest.param(b'{"a": NaN}', id="nan"),
    pytest.param(b'{"a": Infinity}', id="infinity"),
    pytest.param(b'{"a": -Infinity}', id="minus-infinity"),
    pytest.param(b'{"a": 1e400}', id="float-overflow"),
    pytest.param(b"\xff\xfe{}", id="invalid-utf8"),
    pytest.param(b'{"eventName": "\xc3\x28"}', id="invalid-utf8-in-string"),
    pytest.param(b'{"a": "\\ud800"}', id="lone-surrogate"),
    pytest.param(b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}", id="nested-2000"),
    pytest.param(b'{"a": 1} trailing', id="trailing-garbage"),
    pytest.param(b'{"a": 1}{"b": 2}', id="two-objects"),
]


def assert_json_answer(response) -> None:
    """A JSON answer; an error one carries a catalogued code, its message
    and its status."""
    assert response.status < 500, response
    assert response.headers["Content-Type"].startswith("application/json"), response
    if response.status >= 400:
        code = response.json["error_code"]
        assert code in CATALOGUE, response
        assert response.status == CATALOGUE[code].status, response
        assert isinstance(response.json["message"], str) and response.json["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
def test_a_body_that_is_not_a_json_object_is_invalid_json(sdk, app, method, path, raw):
    response = sdk.send(method, path, None, raw=raw)

    if path == "/v1/stats" and raw == b'{"a": 1e400}':
        # /v1/stats decodes only the keys it reads (msgspec; the report stays
        # raw bytes), so an out-of-range number under a key it ignores is
        # ignored like the key; the body is then refused for its missing token.
        assert (response.status, response.json["error_code"]) == (401, "missing_token")
        return
    assert response.status == 400, response
    assert response.json == {
        "error_code": "invalid_json",
        "message": "The request body is not a JSON object.",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_body_over_the_size_limit_is_refused_with_413(sdk, app, settings, method, path):
    # Given a padded body one byte over the limit
    body = b'{"pad": "' + b"x" * settings.CONFIG.max_body_bytes + b'"}'

    # When it is sent
    response = sdk.send(method, path, None, raw=body)

    # Then it is refused before it is parsed
    assert response.status == 413, response
    assert response.json == {
        "error_code": "body_too_large",
        "message": "The request body is too large.",
    }


@pytest.mark.django_db
def test_a_body_exactly_at_the_size_limit_is_read(sdk, app, settings):
    prefix = b'{"pad": "'
    suffix = b'"}'
    body = prefix + b"x" * (settings.CONFIG.max_body_bytes - len(prefix) - len(suffix)) + suffix
    assert len(body) == settings.CONFIG.max_body_bytes

    response = sdk.send("POST", "/v1/initialize", None, raw=body)

    assert response.json["error_code"] == "missing_parameters"


@pytest.mark.django_db
def test_a_body_is_json_whatever_its_content_type(page):
    # The SDK sends text/plain; a beacon sends text/plain;charset=UTF-8; a
    # hand-made client may send anything.
    for content_type in (
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/json",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        alice = page("alice")
        response = alice.initialize()
        assert response.status == 200, (content_type, response)
        body = {
            **captured_body("/v1/events/browser", "custom"),
            "token": alice.start_session().json["token"],
        }
        response = alice.post("/v1/events/browser", body, content_type=content_type)
        assert response.status == 200, (content_type, response)
        assert response.raw == b'""'


@pytest.mark.django_db
def test_nul_characters_are_stored_without_breaking_the_request(page):
    # PostgreSQL refuses NUL in text and jsonb; the SDK relays whatever the
    # application puts into custom events and names.
    alice = page("alice")
    assert alice.initialize(userName="Al\u0000ice").status == 200
    assert alice.start_session(appVersion="1.\u00000").status == 200

    response = alice.browser_event("custom", data={"note": "a\u0000b", "k\u0000": ["\u0000"]})

    assert response.status == 200, response
    event = GenericEvent.objects.get(type="custom")
    assert event.data == {"note": "a\ufffdb", "k\ufffd": ["\ufffd"]}
    assert Session.objects.get().app_version == "1.\ufffd0"
    assert Participant.objects.get().participant_name == "Al\ufffdice"


# Values of every JSON type, and the sizes that break naive code.
JUNK_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1e308,
    "",
    "x",
    "x" * 100_000,
    "\u0000",
    "🎥" * 70,
    [],
    [1, "a", None],
    {},
    {"a": {"b": [1]}},
]


# JSON that serialisers refuse to write, spliced into the raw body: nested
# just past the server's limit and as deep as the parser lets through, an
# integer beyond 64 bits.
SPLICED = {
    "<nested 65>": b"[" * 65 + b"]" * 65,
    "<nested 1020>": b"[" * 1020 + b"]" * 1020,
    "<huge integer>": b"1" + b"0" * 30,
}
JUNK_VALUES.extend(SPLICED)
# Inside the reports the server reads, fewer values are enough.
NESTED_JUNK: list[Any] = [None, True, 1.5, "", "x" * 1000, [], {}, "<nested 1020>"]


def _raw(body: dict) -> bytes:
    raw = orjson.dumps(body)
    for placeholder, spliced in SPLICED.items():
        raw = raw.replace(orjson.dumps(placeholder), spliced)
    return raw


@pytest.fixture
def call(page):
    """A running call: alice with a connection to bob, a remote track on it,
    her local tracks, and one stats sample."""
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    assert alice.get_user_media().status == 200
    assert alice.ontrack(link, "remote-audio-1").status == 200
    assert alice.stats(link).status == 200
    return alice, link


def _base_bodies(alice, link) -> dict[tuple[str, str], list[dict]]:
    """Valid bodies for every route, as the SDK sends them."""
    local_track = captured_body("/v1/events/get-user-media", "getUserMedia", nth=1)["data"][
        "audio"
    ][0]["id"]
    token = alice.token
    peer = {"peerId": link.peer_id, "connectionId": link.connection_id}
    return {
        ("POST", "/v1/initialize"): [
            {
                "conferenceId": "room-1",
                "conferenceName": "Room",
                "userId": "carol",
                "userName": "Carol",
                "apiKey": alice.api_key,
            }
        ],
        ("POST", "/v1/sessions"): [
            {**captured_body("/v1/sessions"), "token": alice.init_token, "delta": 10}
        ],
        ("PUT", "/v1/sessions"): [
            {
                "devices": captured_body("/v1/sessions")["devices"],
                "webrtcSdk": "livekit",
                "appVersion": "1",
                "meta": {"a": 1},
                "token": token,
            }
        ],
        ("POST", "/v1/events/get-user-media"): [
            {**captured_body("/v1/events/get-user-media", "getUserMedia", nth=n), "token": token}
            for n in (0, 1)
        ],
        ("POST", "/v1/events/browser"): [
            {**captured_body("/v1/events/browser", "custom"), "token": token},
            {"eventName": "mediaDeviceChange", "devices": [], "token": token},
            {"eventName": "tabFocus", "focus": True, "token": token},
        ],
        ("POST", "/v1/connection"): [
            {**captured_body("/v1/connection", name), **peer, "token": token, "delta": 5}
            for name in (
                "peerDetails",
                "onnegotiationneeded",
                "onsignalingstatechange",
                "onicegatheringstatechange",
                "onicecandidate",
                "oniceconnectionstatechange",
                "onconnectionstatechange",
                "ondatachannel",
            )
        ]
        + [
            {
                "eventName": "addConnection",
                "peerId": "dave",
                "peerName": "Dave",
                "connectionState": "new",
                "isSfu": False,
                "token": token,
            },
            {"eventName": "removePeer", "peerId": "bob", "token": token},
        ],
        ("POST", "/v1/connection/batch"): [
            {
                "token": token,
                "delta": 1,
                "data": [{**captured_body("/v1/connection", "onicecandidate"), **peer, "delta": 3}],
            }
        ],
        ("POST", "/v1/stats"): [{**captured_body("/v1/stats"), **peer, "token": token, "delta": 1}],
        ("POST", "/v1/tracks"): [
            {**captured_body("/v1/tracks", "ontrack"), **peer, "token": token, "delta": 1}
        ],
        ("PUT", "/v1/tracks"): [
            {
                **captured_body("/v1/tracks", "unmute"),
                "connectionId": link.connection_id,
                "trackId": "remote-audio-1",
                "token": token,
            },
            {
                "event": "ended",
                "trackId": local_track,
                "data": {"check": "readyState"},
                "token": token,
            },
        ],
        ("POST", "/v1/services/get-url"): [
            {"apiKey": alice.api_key, "conferenceId": "room-1"},
            {"apiKey": alice.api_key, "userId": "alice"},
        ],
        ("POST", "/v1/services/stop-conference"): [
            {"apiKey": alice.api_key, "conferenceId": "room-1"}
        ],
    }


def _paths(value, prefix=()):
    """Every key path of a body, nested objects included (lists: their first
    element), so junk lands at every depth the server reads."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            if key != "token":
                yield from _paths(item, (*prefix, key))
    elif isinstance(value, list) and value and isinstance(value[0], dict) and len(prefix) < 3:
        yield from _paths(value[0], (*prefix, 0))


def _replaced(body, path, junk):
    body = orjson.loads(orjson.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = junk
    return body


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_junk_in_any_field_of_any_route_is_never_a_500(call, method, path):
    alice, link = call
    failures = []
    for base in _base_bodies(alice, link)[(method, path)]:
        # The valid body itself is accepted.
        response = alice.sdk.send(method, path, base)
        assert response.status == 200, (base, response)
        for key_path in list(_paths(base)) + [("unknownKey",)]:
            for junk in JUNK_VALUES if len(key_path) <= 2 else NESTED_JUNK:
                raw = _raw(_replaced(base, key_path, junk))
                response = alice.sdk.send(method, path, None, raw=raw)
                try:
                    assert_json_answer(response)
                except (AssertionError, KeyError, TypeError):
                    failures.append(
                        (key_path, repr(junk)[:40], response.status, response.raw[:200])
                    )
    assert not failures, failures[:3]


@pytest.mark.django_db
def test_a_body_nested_deeper_than_the_limit_is_invalid_json(page):
    # Given a custom event whose data is nested one level past the limit
    # (the body object itself is the first level)
    alice = page("alice").join()
    too_deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    deepest = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    body = b'{"eventName": "custom", "token": "%s", "data": %s}'

    # When both are sent
    refused = alice.sdk.send(
        "POST", "/v1/events/browser", None, raw=body % (alice.token.encode(), too_deep)
    )
    stored = alice.sdk.send(
        "POST", "/v1/events/browser", None, raw=body % (alice.token.encode(), deepest)
    )

    # Then only the one within the limit is stored
    assert refused.status == 400
    assert refused.json == {
        "error_code": "invalid_json",
        "message": f"The request body is nested more than {MAX_DEPTH} levels deep.",
    }
    assert stored.status == 200, stored
    assert GenericEvent.objects.filter(type="custom").count() == 1
