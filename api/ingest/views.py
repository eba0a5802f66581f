"""The SDK-facing endpoints (SPEC §1).

Each view parses the body, checks the token, calls one service and shapes
the answer. Every answer is JSON (the SDK parses all of them and retries
on anything else): ``""`` when there is nothing to say, the error body
``{"error_code", "message"}`` on failure.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt

from api.calls import services as calls
from api.calls.models import Conference, Connection, Participant, Session, Track
from api.common import metrics
from api.common import time as clock
from api.common.errors import ApiError
from api.common.logs import app_identified
from api.common.time import back_dated, iso
from api.events.models import GenericEvent
from api.events.services import event_store, fingerprint
from api.ingest import tokens
from api.ingest.body import (
    body_parse,
    delta_ms,
    meta_validate,
    opt_str,
    opt_uuid,
    req_str,
    stats_body_parse,
)
from api.ingest.stats import stats_ingest
from api.quality import services as quality
from api.query import shapes
from api.tenancy.models import App

logger = logging.getLogger("api.ingest")

API_KEY_RE = re.compile(r"^[a-z0-9]{32}$")


def json_response(value: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(value), status=status, content_type="application/json; charset=utf-8"
    )


EMPTY = b'""'


def empty_response() -> HttpResponse:
    return HttpResponse(EMPTY, content_type="application/json; charset=utf-8")


def error_response(error: ApiError) -> HttpResponse:
    return json_response(error.body(), status=error.status)


def _delegate(request: HttpRequest) -> HttpResponse:
    """Methods an SDK route does not take itself (e.g. ``GET /v1/sessions``)
    belong to the query API when it serves that path."""
    try:
        match = resolve(request.path_info, urlconf="api.query_urls")
    except (Resolver404, ImportError):
        return error_response(ApiError("method_not_allowed"))
    return match.func(request, *match.args, **match.kwargs)


def sdk_endpoint(*methods: str) -> Callable:
    """Wrap an SDK view: method dispatch, JSON errors, no 500 without a log
    line (with the route and the error, never the body or its token)."""

    def decorate(view: Callable[[HttpRequest], HttpResponse]) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request: HttpRequest) -> HttpResponse:
            if request.method not in methods:
                return _delegate(request)
            try:
                return view(request)
            except ApiError as error:
                return error_response(error)
            except (OperationalError, InterfaceError) as exc:
                # The database is away (restart, failover, too many
                # connections): nothing was accepted, and the SDK retries a
                # 503 like any failed request.
                logger.warning(
                    "database unavailable on %s %s: %s",
                    request.method,
                    request.path_info,
                    exc.__class__.__name__,
                )
                return error_response(ApiError("service_unavailable"))
            except Exception:
                logger.exception("unhandled error on %s %s", request.method, request.path_info)
                return error_response(ApiError("server_error"))

        wrapped.sdk_methods = methods  # type: ignore[attr-defined]
        return wrapped

    return decorate


# ---------------------------------------------------------------- initialize


def _host(value: str) -> str | None:
    """The lower-case host of an origin or of an allowed-domain entry;
    scheme, port and path are ignored. None when there is no host."""
    value = value.strip().lower()
    if "://" not in value:
        if value.count(":") > 1 and "[" not in value:
            return value  # a bare IPv6 address
        value = f"//{value}"
    try:
        return urlsplit(value).hostname or None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def _origin_allowed(domain: str, origin: str | None) -> bool:
    """``domain`` is a host, several separated by commas or spaces, or
    ``*.example.com`` (every subdomain, not the domain itself). Hosts such as
    ``localhost`` and IP addresses are allowed entries."""
    host = _host(origin) if origin else None
    if host is None:
        return False
    for entry in re.split(r"[,\s]+", domain):
        allowed = _host(entry) if entry else None
        if allowed is None:
            continue
        if allowed.startswith("*."):
            if host.endswith(allowed[1:]):
                return True
        elif host == allowed:
            return True
    return False


@sdk_endpoint("POST")
def initialize(request: HttpRequest) -> HttpResponse:
    body = body_parse(request)
    conference_id = opt_str(body, "conferenceId", max_length=64, truncate=True)
    conference_name = opt_str(body, "conferenceName", max_length=64, truncate=True)
    user_id = opt_str(body, "userId", max_length=64, truncate=True)
    user_name = opt_str(body, "userName", max_length=64, truncate=True)
    api_key = body.get("apiKey")
    if not conference_id or not user_id or not api_key:
        raise ApiError("missing_parameters")
    if not isinstance(api_key, str) or not API_KEY_RE.match(api_key):
        raise ApiError("invalid_api_key")
    app = (
        App.objects.filter(api_key=api_key, is_active=True, organization__is_active=True)
        .only("id", "recording", "domain", "interval")
        .first()
    )
    if app is None:
        raise ApiError("invalid_api_key")
    app_identified(app.pk)
    if not app.recording:
        raise ApiError("app_not_recording")
    if app.domain and not _origin_allowed(app.domain, request.headers.get("Origin")):
        raise ApiError("domain_not_allowed")
    conference, participant = calls.conference_join(
        app=app,
        conference_id=conference_id,
        conference_name=conference_name,
        participant_id=user_id,
        participant_name=user_name,
    )
    return json_response(
        {
            "token": tokens.init_token_issue(
                participant_id=participant.pk, conference_id=conference.pk
            ),
            "getStatsInterval": int(app.interval),
            "batchConnectionEvents": False,
            "time": clock.now().timestamp(),
        }
    )


# ------------------------------------------------------------------ sessions


_NO_GEO = {
    "country_code": None,
    "region_code": None,
    "city": None,
    "latitude": None,
    "longitude": None,
}


def _session_for_token(body: dict) -> Session:
    session_id = tokens.session_token_verify(body.get("token"))
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise ApiError("invalid_token")
    app_identified(session.app_id)
    return session


@sdk_endpoint("POST", "PUT")
def sessions(request: HttpRequest) -> HttpResponse:
    body = body_parse(request)
    if request.method == "PUT":
        return _session_update(body)
    claims = tokens.init_token_verify(body.get("token"))
    participant = Participant.objects.filter(pk=claims.participant_id).first()
    conference = Conference.objects.filter(pk=claims.conference_id).first()
    if participant is None or conference is None or participant.app_id != conference.app_id:
        raise ApiError("invalid_token")
    app_version = opt_str(body, "appVersion", max_length=16, truncate=True)
    webrtc_sdk = opt_str(body, "webrtcSdk", max_length=16, truncate=True)
    metadata = meta_validate(body.get("meta"))
    at = back_dated(delta_ms=delta_ms(body))
    session = calls.session_create(
        conference=conference,
        participant=participant,
        at=at,
        app_version=app_version,
        webrtc_sdk=webrtc_sdk,
        metadata=metadata,
        constraints=body.get("constraints"),
        devices=body.get("devices"),
        platform=body.get("platform"),
        geo_ip=dict(_NO_GEO),
    )
    return json_response({"token": tokens.session_token_issue(session_id=session.pk)})


def _session_update(body: dict) -> HttpResponse:
    session = _session_for_token(body)
    fields: dict[str, Any] = {}
    for key, field in (
        ("constraints", "constraints"),
        ("devices", "devices"),
        ("platform", "platform"),
    ):
        if body.get(key) is not None:
            fields[field] = body[key]
    if "webrtcSdk" in body:
        fields["webrtc_sdk"] = opt_str(body, "webrtcSdk", max_length=16, truncate=True)
    if "appVersion" in body:
        fields["app_version"] = opt_str(body, "appVersion", max_length=16, truncate=True)
    if "meta" in body:
        fields["metadata"] = meta_validate(body.get("meta"))
    session = calls.session_update(session=session, fields=fields)
    return json_response(
        {"data": shapes.session_shape(session, issues=None, with_constraints=True)}
    )


# -------------------------------------------------------------------- events

ICE_CONNECTION_STATES = {
    "new",
    "checking",
    "connected",
    "completed",
    "failed",
    "disconnected",
    "closed",
}
CONNECTION_STATES = {"new", "connecting", "connected", "disconnected", "failed", "closed"}
ICE_GATHERING_STATES = {"new", "gathering", "complete"}
SIGNALING_STATES = {
    "stable",
    "have-local-offer",
    "have-remote-offer",
    "have-local-pranswer",
    "have-remote-pranswer",
    "closed",
}
# Events that drive the connection's state: the values a browser sends.
_STATE_VALUES = {
    "oniceconnectionstatechange": ICE_CONNECTION_STATES,
    "onconnectionstatechange": CONNECTION_STATES,
    "onicegatheringstatechange": ICE_GATHERING_STATES,
    "onsignalingstatechange": SIGNALING_STATES,
}
CANDIDATE_KEYS = (
    "address",
    "candidate",
    "component",
    "foundation",
    "port",
    "priority",
    "protocol",
    "relatedAddress",
    "relatedPort",
    "sdpMLineIndex",
    "sdpMid",
    "tcpType",
    "type",
    "usernameFragment",
)


def _event_data(event_name: str, body: dict) -> Any:
    """The stored ``data`` of an event, checked where the event drives state."""
    data = body.get("data")
    allowed = _STATE_VALUES.get(event_name)
    if allowed is not None:
        state = data
        if event_name == "onsignalingstatechange":
            state = data.get("signalingState") if isinstance(data, dict) else None
        # Checked as a string first: a list or an object is not hashable.
        if not isinstance(state, str) or state not in allowed:
            raise ApiError("invalid_parameters", f"'data' is not valid for {event_name}.")
    if event_name == "onicecandidate" and isinstance(data, dict):
        data = {k: data[k] for k in CANDIDATE_KEYS if data.get(k) is not None}
    if event_name == "mediaDeviceChange" and data is None:
        data = {"devices": body.get("devices")}
    if event_name == "tabFocus" and data is None:
        data = {"focus": body.get("focus")}
    return data


def _own_connection(session: Session, connection_id: uuid.UUID | None) -> Connection | None:
    if connection_id is None:
        return None
    connection = Connection.objects.filter(pk=connection_id, session_id=session.pk).first()
    if connection is None:
        raise ApiError("connection_not_found")
    return connection


def _peer_of_app(session: Session, peer_id: str) -> Participant | None:
    """A peer named by its server id (what the SDK sends for most events) or
    by the application's id (what it sends for removeConnection/removePeer)."""
    lookup = Q(participant_id=peer_id)
    with contextlib.suppress(ValueError):
        lookup |= Q(pk=uuid.UUID(peer_id))
    return Participant.objects.filter(lookup, app_id=session.app_id).first()


def _event_post(request: HttpRequest, *, category: str, route: str) -> HttpResponse:
    body = body_parse(request)
    session = _session_for_token(body)
    event_name = req_str(body, "eventName", max_length=64)
    peer_ref = opt_str(body, "peerId", max_length=64)
    if category == GenericEvent.Category.CONNECTION and not peer_ref:
        raise ApiError("missing_parameters", "'peerId' is required.")
    delta = delta_ms(body)
    at = back_dated(delta_ms=delta)
    data = _event_data(event_name, body)
    connection = _own_connection(
        session, opt_uuid(body, "connectionId", not_found="connection_not_found")
    )

    if event_name == "addConnection" and category == GenericEvent.Category.CONNECTION:
        assert peer_ref is not None
        return _connection_add(session, body, peer_ref, at)

    peer_id = connection.peer_id if connection else None
    if peer_ref and peer_id is None:
        peer = _peer_of_app(session, peer_ref)
        if event_name in {"removeConnection", "removePeer"}:
            # The SDK ignores the answer: an unknown peer is stored as none.
            peer_id = peer.pk if peer else None
        elif peer is None:
            raise ApiError("participant_not_found")
        elif peer.pk == session.participant_id:
            raise ApiError("participant_equal_peer")
        else:
            peer_id = peer.pk

    event, created = event_store(
        session=session,
        category=category,
        type=event_name,
        data=data,
        at=at,
        fingerprint=fingerprint(route=route, body=body),
        is_retry=bool(delta),
        connection_id=connection.pk if connection else None,
        peer_id=peer_id,
    )
    if created:
        _event_effects(session, event_name, data, connection, peer_id, at)
        quality.event_received(event=event)
    return empty_response()


def _event_effects(
    session: Session,
    event_name: str,
    data: Any,
    connection: Connection | None,
    peer_id: uuid.UUID | None,
    at,
) -> None:
    """Lifecycle consequences of an event (reference §4.2, with its bugs fixed)."""
    if event_name == "getUserMedia" and isinstance(data, dict):
        calls.tracks_from_get_user_media(session=session, data=data)
    elif event_name == "beforeunload":
        calls.session_end(session_id=session.pk, at=at, end_connections=False)
    elif event_name in {"unload", "endCall"}:
        calls.session_end(session_id=session.pk, at=at, end_connections=True)
    elif event_name == "removeConnection" and connection is not None:
        calls.connection_end(connection_id=connection.pk, at=at)
    elif event_name == "removePeer" and peer_id is not None:
        for connection_id in Connection.objects.filter(
            session_id=session.pk, peer_id=peer_id, end_time__isnull=True
        ).values_list("pk", flat=True):
            calls.connection_end(connection_id=connection_id, at=at)
    elif connection is not None:
        calls.connection_event_apply(
            connection_id=connection.pk, event_name=event_name, data=data, at=at
        )


def _connection_add(session: Session, body: dict, peer_ref: str, at) -> HttpResponse:
    peer_name = opt_str(body, "peerName", max_length=64, truncate=True)
    is_sfu = body.get("isSfu") is True
    connection_state = body.get("connectionState")
    participant = (
        Participant.objects.filter(pk=session.participant_id).only("participant_id").first()
    )
    if participant is not None and participant.participant_id == peer_ref:
        raise ApiError("participant_equal_peer")
    peer = calls.participant_get_or_create(
        app=session.app_id, participant_id=peer_ref, participant_name=peer_name, is_sfu=is_sfu
    )
    calls.conference_participant_link(conference_id=session.conference_id, participant_id=peer.pk)
    connection = calls.connection_add(
        session=session,
        peer=peer,
        connection_state=connection_state if isinstance(connection_state, str) else None,
        at=at,
    )
    event, _ = event_store(
        session=session,
        category=GenericEvent.Category.CONNECTION,
        type="addConnection",
        data={"peerName": peer_name, "isSfu": is_sfu, "connectionState": connection_state},
        at=at,
        fingerprint=fingerprint(
            route="connection", body={**body, "connection": str(connection.pk)}
        ),
        is_retry=False,
        connection_id=connection.pk,
        peer_id=peer.pk,
    )
    quality.event_received(event=event)
    return json_response({"peer_id": str(peer.pk), "connection_id": str(connection.pk)})


@sdk_endpoint("POST")
def events_browser(request: HttpRequest) -> HttpResponse:
    return _event_post(request, category=GenericEvent.Category.BROWSER, route="browser")


@sdk_endpoint("POST")
def events_get_user_media(request: HttpRequest) -> HttpResponse:
    return _event_post(request, category=GenericEvent.Category.GET_USER_MEDIA, route="gum")


@sdk_endpoint("POST")
def connection_event(request: HttpRequest) -> HttpResponse:
    return _event_post(request, category=GenericEvent.Category.CONNECTION, route="connection")


@sdk_endpoint("POST")
def connection_batch(request: HttpRequest) -> HttpResponse:
    """Batched connection events (``batchConnectionEvents`` is always false,
    so only a hand-made client sends these): ``{"token", "data": [...]}``.
    Each item is validated before any is stored."""
    body = body_parse(request)
    session = _session_for_token(body)
    items = body.get("data")
    if not isinstance(items, list):
        raise ApiError("invalid_parameters", "'data' must be a list of events.")
    if len(items) > 500:
        raise ApiError("invalid_parameters", "At most 500 events per batch.")
    base_at = back_dated(delta_ms=delta_ms(body))
    prepared = []
    for item in items:
        if not isinstance(item, dict):
            raise ApiError("invalid_parameters", "Each event must be an object.")
        event_name = opt_str(item, "eventName", max_length=64)
        if not event_name or event_name == "addConnection":
            continue
        data = _event_data(event_name, item)
        connection = _own_connection(
            session, opt_uuid(item, "connectionId", not_found="connection_not_found")
        )
        at = back_dated(delta_ms=delta_ms(item), at=base_at)
        prepared.append((event_name, data, connection, at, item))
    for event_name, data, connection, at, item in prepared:
        event, created = event_store(
            session=session,
            category=GenericEvent.Category.CONNECTION,
            type=event_name,
            data=data,
            at=at,
            fingerprint=fingerprint(route="connection", body=item),
            is_retry=False,
            connection_id=connection.pk if connection else None,
            peer_id=connection.peer_id if connection else None,
        )
        if created:
            peer_id = connection.peer_id if connection else None
            _event_effects(session, event_name, data, connection, peer_id, at)
            quality.event_received(event=event)
    return empty_response()


# --------------------------------------------------------------------- stats


@sdk_endpoint("POST")
def stats(request: HttpRequest) -> HttpResponse:
    try:
        body = stats_body_parse(request)
        session_id = tokens.session_token_verify(body.token)
        stats_ingest(session_id=session_id, body=body)
    except ApiError as error:
        metrics.labelled(metrics.STATS_REFUSED, error.code).inc()
        raise
    except (OperationalError, InterfaceError):
        metrics.labelled(metrics.STATS_REFUSED, "service_unavailable").inc()
        raise
    metrics.labelled(metrics.STATS_ACCEPTED, settings.INGEST["SINK"]).inc()
    return empty_response()


# -------------------------------------------------------------------- tracks


def track_as_dict(track: Track) -> dict[str, Any]:
    return {
        "id": str(track.pk),
        "session": str(track.session_id),
        "connection": str(track.connection_id) if track.connection_id else None,
        "kind": track.kind,
        "direction": track.direction,
        "track_id": track.track_id,
        "label": track.label,
        "track_info": track.track_info,
        "created_at": iso(track.created_at),
    }


@sdk_endpoint("POST", "PUT")
def tracks(request: HttpRequest) -> HttpResponse:
    body = body_parse(request)
    session = _session_for_token(body)
    event_name = opt_str(body, "event", max_length=64) or (
        "ontrack" if request.method == "POST" else None
    )
    if not event_name:
        raise ApiError("missing_parameters", "'event' is required.")
    track_ref = req_str(body, "trackId", max_length=64)
    delta = delta_ms(body)
    at = back_dated(delta_ms=delta)
    data = body.get("data")
    connection_id = opt_uuid(body, "connectionId", not_found="connection_not_found")
    if request.method == "POST":
        if connection_id is None:
            raise ApiError("missing_parameters", "'connectionId' is required.")
        if not isinstance(data, dict):
            raise ApiError("invalid_parameters", "'data' must describe the track.")
        connection = _own_connection(session, connection_id)
        assert connection is not None
        track = calls.track_from_ontrack(
            session=session, connection=connection, track_id=track_ref, data=data
        )
    else:
        connection = _own_connection(session, connection_id)
        track = calls.track_state_change(
            session=session, connection=connection, track_id=track_ref, event=event_name
        )
    event, created = event_store(
        session=session,
        category=GenericEvent.Category.TRACK,
        type=event_name,
        data=data,
        at=at,
        fingerprint=fingerprint(route=f"tracks:{request.method}", body=body),
        is_retry=bool(delta),
        connection_id=track.connection_id,
        peer_id=connection.peer_id if connection else None,
        track_id=track.pk,
    )
    if created:
        quality.event_received(event=event)
    return json_response({"data": track_as_dict(track)})


# ------------------------------------------------------------------ services


def _app_for_key(body: dict) -> App:
    api_key = body.get("apiKey")
    if not isinstance(api_key, str) or not API_KEY_RE.match(api_key):
        raise ApiError("invalid_api_key")
    app = App.objects.filter(api_key=api_key, is_active=True, organization__is_active=True).first()
    if app is None:
        raise ApiError("invalid_api_key")
    return app


def _web_url(request: HttpRequest, path: str) -> str:
    domain = settings.PEERMETRICS["WEB_DOMAIN"]
    if domain:
        return f"https://{domain}{path}"
    return request.build_absolute_uri(path)


@sdk_endpoint("POST")
def services_get_url(request: HttpRequest) -> HttpResponse:
    body = body_parse(request)
    conference_id = opt_str(body, "conferenceId", max_length=64, truncate=True)
    user_id = opt_str(body, "userId", max_length=64, truncate=True)
    if not body.get("apiKey") and not (conference_id and user_id):
        raise ApiError("missing_parameters")
    app = _app_for_key(body)
    if conference_id:
        conference = Conference.objects.filter(app=app, conference_id=conference_id).first()
        if conference is None:
            raise ApiError("conference_not_found")
        return json_response({"url": _web_url(request, f"/conference/{conference.pk}")})
    if user_id:
        participant = Participant.objects.filter(app=app, participant_id=user_id).first()
        if participant is None:
            raise ApiError("participant_not_found")
        return json_response({"url": _web_url(request, f"/participant/{participant.pk}")})
    raise ApiError("missing_parameters", "'conferenceId' or 'userId' is required.")


@sdk_endpoint("POST")
def services_stop_conference(request: HttpRequest) -> HttpResponse:
    body = body_parse(request)
    conference_id = opt_str(body, "conferenceId", max_length=64, truncate=True)
    if not body.get("apiKey") or not conference_id:
        raise ApiError("missing_parameters")
    app = _app_for_key(body)
    conference = Conference.objects.filter(app=app, conference_id=conference_id).first()
    if conference is None:
        raise ApiError("conference_not_found")
    calls.conference_stop(conference=conference, at=clock.now())
    return json_response({})


@sdk_endpoint("POST")
def noop(request: HttpRequest) -> HttpResponse:
    """Reads the body and answers ``""``: the cost of the server stack alone,
    which bench/load.py compares the stats path with (docs/benchmarks.md)."""
    request.body  # noqa: B018  (read like every SDK route reads it)
    return empty_response()
