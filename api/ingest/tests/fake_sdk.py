"""A fake page running the peermetrics SDK, for tests that drive the server
through HTTP the way a browser does.

Every body it sends starts from a body the real SDK 2.7.2 sent in the
captured two-participant call (``sdk-payloads/call-2-participants.json``),
with this server's tokens and ids put in. A test overrides only the keys it
is about.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from django.test import Client

from api.calls.models import Connection, Session
from api.ingest.sinks import current_sink
from api.ingest.sinks.queued import QueuedSink, redis_client
from conftest import CAPTURED_API_KEY, SDK_PAYLOADS, SdkClient, SdkResponse

ORIGIN = "http://127.0.0.1:18080"
START = datetime(2026, 11, 28, 16, 50, 49, tzinfo=UTC)
_ABSENT = object()


@cache
def _captured_requests() -> tuple[dict, ...]:
    call = json.loads((SDK_PAYLOADS / "call-2-participants.json").read_text())
    return tuple(call["requests"])


def captured_body(path: str, name: str | None = None, *, nth: int = 0) -> dict[str, Any]:
    """A copy of the ``nth`` body the SDK sent to ``path`` (with that
    ``eventName``/``event``), without its token and server ids."""
    found = [
        r["body"]
        for r in _captured_requests()
        if r["path"] == path
        and (name is None or (r["body"].get("eventName") or r["body"].get("event")) == name)
    ]
    body = copy.deepcopy(found[nth])
    for key in ("token", "peerId", "connectionId", "delta", "timestamp"):
        body.pop(key, None)
    return body


def stats_report(*, candidate_pair: bool = True) -> dict[str, Any]:
    """The ``data`` of the first stats request of the captured call. Without
    a candidate pair it looks like a sample taken before ICE selected one."""
    data = captured_body("/v1/stats")["data"]
    if not candidate_pair:
        data["connection"] = {"inbound": [], "outbound": []}
    return data


def next_report(
    data: dict[str, Any], *, candidate_type: str | None = None, seconds: float = 10.0
) -> dict[str, Any]:
    """The report ``seconds`` later (one interval: a new sample, not a retry
    of this one), optionally over a candidate pair of another type."""
    data = copy.deepcopy(data)
    reports = [data["connection"]]
    for kind in ("audio", "video"):
        reports += data[kind]["inbound"] + data[kind]["outbound"]
    for report in reports:
        if "timestamp" in report:
            report["timestamp"] += round(seconds * 1000)
    if candidate_type is not None:
        data["connection"]["local"]["candidateType"] = candidate_type
    return data


class Clock:
    """The server's clock (``api.common.time.now``), moved by the test."""

    def __init__(self, start: datetime = START):
        self.now = start

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, value: datetime) -> datetime:
        self.now = value
        return value


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("api.common.time.now", lambda: fake.now)
    return fake


@dataclass(frozen=True)
class Link:
    """What an ``addConnection`` answer gives the SDK."""

    peer_id: str
    connection_id: str

    @property
    def connection(self) -> Connection:
        return Connection.objects.get(pk=self.connection_id)


class Page:
    """One browser page: one participant, one session at a time."""

    def __init__(
        self,
        sdk: SdkClient,
        user_id: str,
        *,
        conference_id: str = "room-1",
        api_key: str = CAPTURED_API_KEY,
        origin: str | None = ORIGIN,
    ):
        self.sdk = sdk
        self.user_id = user_id
        self.conference_id = conference_id
        self.api_key = api_key
        self.origin = origin
        self.init_token: str | None = None
        self.token: str | None = None

    def in_new_client(self) -> Page:
        """The same page (tokens included) on its own HTTP client, for a
        thread of its own."""
        twin = Page(
            SdkClient(Client()),
            self.user_id,
            conference_id=self.conference_id,
            api_key=self.api_key,
            origin=self.origin,
        )
        twin.init_token, twin.token = self.init_token, self.token
        return twin

    # -- transport

    def post(self, path: str, body: Any, **kwargs) -> SdkResponse:
        return self.sdk.post(path, body, origin=self.origin, **kwargs)

    def put(self, path: str, body: Any, **kwargs) -> SdkResponse:
        return self.sdk.put(path, body, origin=self.origin, **kwargs)

    def _signed(self, body: dict[str, Any], token: Any = _ABSENT) -> dict[str, Any]:
        body = dict(body)
        body["token"] = self.token if token is _ABSENT else token
        return body

    # -- set-up

    def initialize(self, **overrides: Any) -> SdkResponse:
        body = captured_body("/v1/initialize")
        body.update(
            conferenceId=self.conference_id,
            conferenceName=f"Conference {self.conference_id}",
            userId=self.user_id,
            userName=f"User {self.user_id}",
            apiKey=self.api_key,
        )
        body.update(overrides)
        response = self.post("/v1/initialize", body)
        if response.status == 200:
            self.init_token = response.json["token"]
        return response

    def start_session(self, **overrides: Any) -> SdkResponse:
        body = self._signed(captured_body("/v1/sessions"), self.init_token)
        body.update(overrides)
        response = self.post("/v1/sessions", body)
        if response.status == 200:
            self.token = response.json["token"]
        return response

    def join(self) -> Page:
        """``initialize()`` of the SDK: both requests, both must succeed."""
        assert self.initialize().status == 200
        assert self.start_session().status == 200
        return self

    @property
    def session(self) -> Session:
        """This page's latest session."""
        return Session.objects.filter(
            participant__participant_id=self.user_id,
            conference__conference_id=self.conference_id,
            app__api_key=self.api_key,
        ).latest("created_at")

    # -- requests of a running call

    def add_connection(self, peer_user_id: str, **overrides: Any) -> Link:
        fields = {
            "peerId": peer_user_id,
            "peerName": f"User {peer_user_id}",
            "connectionState": "new",
            "isSfu": False,
            **overrides,
        }
        response = self.connection_request("addConnection", **fields)
        assert response.status == 200, response
        return Link(peer_id=response.json["peer_id"], connection_id=response.json["connection_id"])

    def connection_request(self, name: str, **fields: Any) -> SdkResponse:
        body = self._signed({"eventName": name, "timestamp": None})
        body.update(fields)
        return self.post("/v1/connection", body)

    def connection_event(
        self, link: Link, name: str, data: Any = _ABSENT, **fields: Any
    ) -> SdkResponse:
        """A stats-library event of the connection, as the SDK sends it."""
        body: dict[str, Any] = {"peerId": link.peer_id, "connectionId": link.connection_id}
        if data is not _ABSENT:
            body["data"] = data
        body.update(fields)
        return self.connection_request(name, **body)

    def signaling(self, link: Link, state: str, **fields: Any) -> SdkResponse:
        data = {"signalingState": state, "localDescription": None, "remoteDescription": None}
        return self.connection_event(link, "onsignalingstatechange", data, **fields)

    def remove_connection(self, link: Link, peer_user_id: str, **fields: Any) -> SdkResponse:
        """``removeConnection()``: the SDK sends the application's peer id."""
        return self.connection_request(
            "removeConnection", connectionId=link.connection_id, peerId=peer_user_id, **fields
        )

    def browser_event(self, name: str, **fields: Any) -> SdkResponse:
        body = self._signed({"eventName": name})
        body.update(fields)
        return self.post("/v1/events/browser", body)

    def get_user_media(self, nth: int = 1, **fields: Any) -> SdkResponse:
        """The captured getUserMedia event (``nth=0``: its constraints,
        ``nth=1``: the tracks it gave)."""
        body = self._signed(captured_body("/v1/events/get-user-media", "getUserMedia", nth=nth))
        body.update(fields)
        return self.post("/v1/events/get-user-media", body)

    def stats(self, link: Link, data: Any = _ABSENT, **fields: Any) -> SdkResponse:
        body = self._signed(captured_body("/v1/stats"))
        body.update(peerId=link.peer_id, connectionId=link.connection_id)
        if data is not _ABSENT:
            body["data"] = data
        body.update(fields)
        return self.post("/v1/stats", body)

    def ontrack(self, link: Link, track_id: str, kind: str = "audio", **fields: Any) -> SdkResponse:
        body = self._signed(captured_body("/v1/tracks", "ontrack"))
        body.update(peerId=link.peer_id, connectionId=link.connection_id, trackId=track_id)
        body["data"] = {**body["data"], "id": track_id, "kind": kind, "label": f"remote {kind}"}
        body.update(fields)
        return self.post("/v1/tracks", body)

    def track_state(
        self, track_id: str, event: str, link: Link | None = None, /, **fields: Any
    ) -> SdkResponse:
        body = self._signed({"event": event, "trackId": track_id, "data": {}})
        if link is not None:
            body["connectionId"] = link.connection_id
        body.update(fields)
        return self.put("/v1/tracks", body)


@pytest.fixture
def page(sdk, app, clock):
    """``page("alice")``: a page of the app's conference ``room-1``. The
    server runs on the test's clock from the first request on."""

    def open_page(user_id: str, **kwargs: Any) -> Page:
        return Page(sdk, user_id, **kwargs)

    return open_page


@contextmanager
def queued_sink(settings, tmp_path, *, spool: bool = False) -> Iterator[str]:
    """The queued sink, on a stream of its own (yielded), for the block."""
    stream = f"pm:test:{uuid.uuid4().hex}"
    settings.CONFIG = replace(
        settings.CONFIG,
        ingest_sink="queued",
        ingest_stream=stream,
        ingest_spool=spool,
        ingest_spool_dir=tmp_path / "spool",
    )
    try:
        yield stream
    finally:
        sink = current_sink()
        assert isinstance(sink, QueuedSink)
        sink.close()
        redis_client().delete(stream)
