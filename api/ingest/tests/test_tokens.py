"""The two SDK tokens: what they carry, and every way they can be wrong —
each a 401 with the JSON error body."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import jwt
import pytest
from django.conf import settings

from api.calls.models import Session
from api.ingest.tests.fake_sdk import captured_body

MISSING_TOKEN = {"error_code": "missing_token", "message": "No token supplied."}
INVALID_TOKEN = {"error_code": "invalid_token", "message": "Invalid token."}
EXPIRED_TOKEN = {"error_code": "expired_token", "message": "Expired token."}


def _session_token(**payload) -> str:
    return jwt.encode(payload, settings.CONFIG.session_token_secret, algorithm="HS256")


def _init_token(**payload) -> str:
    return jwt.encode(payload, settings.CONFIG.init_token_secret, algorithm="HS256")


def _unsigned(payload: dict) -> str:
    return jwt.encode(payload, key=None, algorithm="none")


@pytest.fixture
def call(page):
    """Alice in a call with bob: one connection, a remote track."""
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    assert alice.ontrack(link, "remote-audio-1").status == 200
    return alice, link


def _session_routes(link) -> list[tuple[str, str, dict]]:
    """A valid body (but its token) for every route taking a session token."""
    peer = {"peerId": link.peer_id, "connectionId": link.connection_id}
    return [
        ("PUT", "/v1/sessions", {"webrtcSdk": "livekit"}),
        (
            "POST",
            "/v1/events/get-user-media",
            captured_body("/v1/events/get-user-media", "getUserMedia"),
        ),
        ("POST", "/v1/events/browser", captured_body("/v1/events/browser", "custom")),
        ("POST", "/v1/connection", {**captured_body("/v1/connection", "onicecandidate"), **peer}),
        (
            "POST",
            "/v1/connection/batch",
            {"data": [{**captured_body("/v1/connection", "onicecandidate"), **peer}]},
        ),
        ("POST", "/v1/stats", {**captured_body("/v1/stats"), **peer}),
        (
            "POST",
            "/v1/tracks",
            {**captured_body("/v1/tracks", "ontrack"), **peer, "trackId": "remote-audio-1"},
        ),
        (
            "PUT",
            "/v1/tracks",
            {
                "event": "mute",
                "trackId": "remote-audio-1",
                "connectionId": link.connection_id,
                "data": {},
            },
        ),
    ]


def _bad_session_tokens(alice) -> list[tuple[str, object, dict]]:
    session_id = str(alice.session.pk)
    now = time.time()
    lifespan = settings.CONFIG.session_token_lifespan
    return [
        ("absent", ..., MISSING_TOKEN),
        ("null", None, MISSING_TOKEN),
        ("a number", 12345, INVALID_TOKEN),
        ("a list", [alice.token], INVALID_TOKEN),
        ("an object", {"token": alice.token}, INVALID_TOKEN),
        ("empty", "", INVALID_TOKEN),
        ("not a jwt", "not-a-token", INVALID_TOKEN),
        ("truncated", alice.token[:-5], INVALID_TOKEN),
        ("oversized", alice.token + "A" * 5000, INVALID_TOKEN),
        (
            "forged",
            jwt.encode(
                {"s": session_id, "t": now}, "a-forger-does-not-know-the-secret", algorithm="HS256"
            ),
            INVALID_TOKEN,
        ),
        ("alg none", _unsigned({"s": session_id, "t": now}), INVALID_TOKEN),
        (
            "HS512 with the right secret",
            jwt.encode(
                {"s": session_id, "t": now},
                settings.CONFIG.session_token_secret,
                algorithm="HS512",
            ),
            INVALID_TOKEN,
        ),
        ("issued too long ago", _session_token(s=session_id, t=now - lifespan - 5), EXPIRED_TOKEN),
        (
            "exp claim in the past",
            _session_token(s=session_id, t=now, exp=int(now) - 60),
            EXPIRED_TOKEN,
        ),
        (
            "nbf claim in the future",
            _session_token(s=session_id, t=now, nbf=int(now) + 3600),
            INVALID_TOKEN,
        ),
        ("an init token", alice.init_token, INVALID_TOKEN),
        ("no session", _session_token(t=now), INVALID_TOKEN),
        ("no issue time", _session_token(s=session_id), INVALID_TOKEN),
        ("issue time not a number", _session_token(s=session_id, t="yesterday"), INVALID_TOKEN),
        ("issue time a boolean", _session_token(s=session_id, t=True), INVALID_TOKEN),
        ("issue time NaN", _session_token(s=session_id, t=float("nan")), INVALID_TOKEN),
        ("issue time infinite", _session_token(s=session_id, t=float("inf")), INVALID_TOKEN),
        ("session not a uuid", _session_token(s="42", t=now), INVALID_TOKEN),
        ("session a number", _session_token(s=42, t=now), INVALID_TOKEN),
    ]


@pytest.mark.django_db
def test_every_bad_session_token_is_a_401_on_every_route(call):
    alice, link = call
    failures = []
    for method, path, body in _session_routes(link):
        for case, token, expected in _bad_session_tokens(alice):
            sent = dict(body)
            if token is not ...:
                sent["token"] = token
            response = alice.sdk.send(method, path, sent)
            if response.status != 401 or response.json != expected:
                failures.append((method, path, case, response))
    assert not failures, failures


@pytest.mark.django_db
def test_the_valid_session_token_is_accepted_on_every_route(call):
    alice, link = call
    for method, path, body in _session_routes(link):
        response = alice.sdk.send(method, path, {**body, "token": alice.token})
        assert response.status == 200, (method, path, response)


@pytest.mark.django_db
def test_a_token_of_a_deleted_session_is_invalid(call):
    # Given alice's session was deleted (e.g. by retention)
    alice, link = call
    Session.objects.filter(pk=alice.session.pk).delete()

    # Then her token no longer opens anything
    for method, path, body in _session_routes(link):
        response = alice.sdk.send(method, path, {**body, "token": alice.token})
        if path == "/v1/stats":
            # The hot path reads the connection, not the session; the
            # connection went with its session.
            assert (response.status, response.json["error_code"]) == (400, "connection_not_found")
        else:
            assert (response.status, response.json) == (401, INVALID_TOKEN), (method, path)


@pytest.mark.django_db
def test_every_bad_init_token_is_a_401_when_starting_a_session(page):
    alice = page("alice")
    alice.initialize()
    claims = jwt.decode(alice.init_token, options={"verify_signature": False})
    now = time.time()
    lifespan = settings.CONFIG.init_token_lifespan
    session_token = page("bob").join().token
    p, c = claims["p"], claims["c"]
    cases = [
        ("absent", ..., MISSING_TOKEN),
        ("null", None, MISSING_TOKEN),
        ("a number", 7, INVALID_TOKEN),
        ("garbage", "x.y.z", INVALID_TOKEN),
        (
            "forged",
            jwt.encode(
                {"p": p, "c": c, "t": now}, "a-forger-does-not-know-the-secret", algorithm="HS256"
            ),
            INVALID_TOKEN,
        ),
        ("alg none", _unsigned({"p": p, "c": c, "t": now}), INVALID_TOKEN),
        (
            "HS384 with the right secret",
            jwt.encode(
                {"p": p, "c": c, "t": now},
                settings.CONFIG.init_token_secret,
                algorithm="HS384",
            ),
            INVALID_TOKEN,
        ),
        ("issued too long ago", _init_token(p=p, c=c, t=now - lifespan - 5), EXPIRED_TOKEN),
        ("exp claim in the past", _init_token(p=p, c=c, t=now, exp=int(now) - 1), EXPIRED_TOKEN),
        ("a session token", session_token, INVALID_TOKEN),
        ("no conference", _init_token(p=p, t=now), INVALID_TOKEN),
        ("unknown participant", _init_token(p=str(uuid.uuid4()), c=c, t=now), INVALID_TOKEN),
        ("unknown conference", _init_token(p=p, c=str(uuid.uuid4()), t=now), INVALID_TOKEN),
        ("participant not a uuid", _init_token(p="alice", c=c, t=now), INVALID_TOKEN),
    ]
    for case, token, expected in cases:
        body = captured_body("/v1/sessions")
        if token is not ...:
            body["token"] = token
        response = alice.post("/v1/sessions", body)
        assert (response.status, response.json) == (401, expected), case
    assert Session.objects.count() == 1  # bob's only


@pytest.mark.django_db
def test_an_init_token_of_one_app_cannot_join_a_conference_of_another(page, organization):
    from api.tenancy.models import App

    other = App.objects.create(organization=organization, name="Other", api_key="f" * 32)
    mallory = page("mallory", api_key=other.api_key)
    assert mallory.initialize().status == 200
    alice = page("alice")
    alice.initialize()
    theirs = jwt.decode(alice.init_token, options={"verify_signature": False})
    mine = jwt.decode(mallory.init_token, options={"verify_signature": False})

    # A token naming mallory's participant and alice's conference
    token = _init_token(p=mine["p"], c=theirs["c"], t=time.time())
    response = mallory.post("/v1/sessions", {**captured_body("/v1/sessions"), "token": token})

    assert (response.status, response.json) == (401, INVALID_TOKEN)


@pytest.mark.django_db
def test_the_tokens_carry_the_documented_claims(page):
    alice = page("alice")
    alice.initialize()
    alice.start_session()

    init_header = jwt.get_unverified_header(alice.init_token)
    init = jwt.decode(alice.init_token, settings.CONFIG.init_token_secret, algorithms=["HS256"])
    session = jwt.decode(alice.token, settings.CONFIG.session_token_secret, algorithms=["HS256"])

    assert init_header["alg"] == "HS256"
    assert set(init) == {"p", "c", "t"}
    assert init["p"] == str(alice.session.participant_id)
    assert init["c"] == str(alice.session.conference_id)
    assert set(session) == {"s", "t"}
    assert session["s"] == str(alice.session.pk)
    assert abs(session["t"] - time.time()) < 60


@pytest.mark.django_db
def test_a_token_lives_as_long_as_its_configured_lifespan(call, settings):
    alice, _ = call
    settings.CONFIG = replace(settings.CONFIG, session_token_lifespan=60)
    session_id = str(alice.session.pk)
    body = captured_body("/v1/events/browser", "custom")

    fresh = alice.post(
        "/v1/events/browser", {**body, "token": _session_token(s=session_id, t=time.time() - 50)}
    )
    stale = alice.post(
        "/v1/events/browser", {**body, "token": _session_token(s=session_id, t=time.time() - 70)}
    )

    assert fresh.status == 200
    assert (stale.status, stale.json) == (401, EXPIRED_TOKEN)


@pytest.mark.django_db
def test_an_init_token_can_start_several_sessions(page):
    # A page reload within the token's life reuses nothing but the SDK calls
    # initialize again; a client that reuses the token still gets sessions.
    alice = page("alice")
    alice.initialize()

    first = alice.start_session()
    second = alice.start_session()

    assert first.status == second.status == 200
    assert first.json["token"] != second.json["token"]
    assert Session.objects.count() == 2
