"""The SDK-facing endpoints (SPEC §1).

Each view parses the body, checks the token, calls one service
(:mod:`api.ingest.services`, or the stats sink) and shapes the answer.
Every answer is JSON (the SDK parses all of them and retries
on anything else): ``""`` when there is nothing to say, the error body
``{"error_code", "message"}`` on failure.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt

from api.calls.models import Session, Track
from api.common import limits, metrics
from api.common import time as clock
from api.common.errors import ApiError
from api.common.logs import app_identified
from api.common.time import back_dated, iso
from api.common.views import error_response
from api.events.models import GenericEvent
from api.ingest import budget, overload, services, tokens
from api.ingest.body import (
    body_bytes,
    body_parse,
    delta_ms,
    event_data_parse,
    meta_validate,
    opt_str,
    opt_uuid,
    req_str,
    stats_body_decode,
    stats_sample_parse,
)
from api.ingest.services import EventIn
from api.ingest.sinks import current_sink

logger = logging.getLogger("api.ingest")


def json_response(value: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(value), status=status, content_type="application/json; charset=utf-8"
    )


EMPTY = b'""'


def empty_response() -> HttpResponse:
    return HttpResponse(EMPTY, content_type="application/json; charset=utf-8")


def _delegate(request: HttpRequest) -> HttpResponse:
    """Methods an SDK route does not take itself (e.g. ``GET /v1/sessions``)
    belong to the query API when it serves that path."""
    try:
        match = resolve(request.path_info, urlconf="api.query_urls")
    except (Resolver404, ImportError):
        return error_response(ApiError("method_not_allowed"))
    return match.func(request, *match.args, **match.kwargs)


def sdk_error(exc: Exception, method: str, path: str) -> ApiError:
    """The answer to what an SDK view raised (called in its ``except``),
    and the log line of a 5xx: with the route and the error, never the body
    or its token. Also the bare stats lane's (api.ingest.stats_wsgi)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SuspiciousOperation):
        # A Host the guard let by but the view could not use, and the like:
        # the client's mistake, not the server's.
        return ApiError("invalid_parameters")
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is away (restart, failover, too many connections):
        # nothing was accepted, and the SDK retries a 503 like any failed
        # request.
        logger.warning("database unavailable on %s %s: %s", method, path, exc.__class__.__name__)
        return ApiError("service_unavailable")
    logger.exception("unhandled error on %s %s", method, path)
    return ApiError("server_error")


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
            except Exception as exc:
                return error_response(sdk_error(exc, request.method or "", request.path_info))

        wrapped.sdk_methods = methods  # type: ignore[attr-defined]
        return wrapped

    return decorate


# ---------------------------------------------------------------- initialize


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
    limits.initialize_limit_check(request, api_key=api_key)
    app, token = services.recording_start(
        api_key=api_key,
        origin=request.headers.get("Origin"),
        conference_id=conference_id,
        conference_name=conference_name,
        participant_id=user_id,
        participant_name=user_name,
    )
    app_identified(app.pk)
    return json_response(
        {
            "token": token,
            # Longer while the app is over its stats budget (api.ingest.budget),
            # or while this process samples under overload (api.ingest.overload).
            "getStatsInterval": min(
                600_000,
                max(
                    budget.stats_interval_for(app_id=app.pk, interval_ms=int(app.interval)),
                    overload.stats_interval(int(app.interval)),
                ),
            ),
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


@sdk_endpoint("POST", "PUT")
def sessions(request: HttpRequest) -> HttpResponse:
    body = body_parse(request)
    if request.method == "PUT":
        return _session_update(body)
    claims = tokens.init_token_verify(body.get("token"))
    session_token = services.session_start(
        claims=claims,
        at=back_dated(delta_ms=delta_ms(body)),
        app_version=opt_str(body, "appVersion", max_length=16, truncate=True),
        webrtc_sdk=opt_str(body, "webrtcSdk", max_length=16, truncate=True),
        metadata=meta_validate(body.get("meta")),
        constraints=body.get("constraints"),
        devices=body.get("devices"),
        platform=body.get("platform"),
        geo_ip=dict(_NO_GEO),
    )
    return json_response({"token": session_token})


def _session_update(body: dict) -> HttpResponse:
    session_id = tokens.session_token_verify(body.get("token"))
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
    session = services.session_update(session_id=session_id, fields=fields)
    return json_response({"data": session_as_dict(session)})


def session_as_dict(session: Session) -> dict[str, Any]:
    """The SDK's answer to ``PUT /sessions``: the session as the seed
    serialised it (with ``constraints``, without ``issues``)."""
    return {
        "id": str(session.pk),
        "conference": str(session.conference_id),
        "participant": str(session.participant_id),
        "constraints": session.constraints,
        "devices": session.devices,
        "platform": session.platform,
        "metadata": session.metadata,
        "geo_ip": session.geo_ip,
        "app_version": session.app_version,
        "webrtc_sdk": session.webrtc_sdk,
        "session_info": session.session_info,
        "duration": session.duration,
        "end_time": iso(session.end_time),
        "call_start": iso(session.call_start),
        "created_at": iso(session.created_at),
    }


# -------------------------------------------------------------------- events


def _event_post(request: HttpRequest, *, category: str, route: str) -> HttpResponse:
    body = body_parse(request)
    session_id = tokens.session_token_verify(body.get("token"))
    event_name = req_str(body, "eventName", max_length=64)
    peer_ref = opt_str(body, "peerId", max_length=64)
    if category == GenericEvent.Category.CONNECTION and not peer_ref:
        raise ApiError("missing_parameters", "'peerId' is required.")
    delta = delta_ms(body)
    event = EventIn(
        category=category,
        name=event_name,
        data=event_data_parse(event_name, body),
        at=back_dated(delta_ms=delta),
        is_retry=bool(delta),
        route=route,
        body=body,
        connection_id=opt_uuid(body, "connectionId", not_found="connection_not_found"),
        peer_ref=peer_ref,
    )
    if event_name == "addConnection" and category == GenericEvent.Category.CONNECTION:
        connection_state = body.get("connectionState")
        connection = services.connection_add(
            session_id=session_id,
            event=event,
            peer_name=opt_str(body, "peerName", max_length=64, truncate=True),
            is_sfu=body.get("isSfu") is True,
            connection_state=connection_state if isinstance(connection_state, str) else None,
        )
        return json_response(
            {"peer_id": str(connection.peer_id), "connection_id": str(connection.pk)}
        )
    services.event_record(session_id=session_id, event=event)
    return empty_response()


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
    session_id = tokens.session_token_verify(body.get("token"))
    items = body.get("data")
    if not isinstance(items, list):
        raise ApiError("invalid_parameters", "'data' must be a list of events.")
    if len(items) > 500:
        raise ApiError("invalid_parameters", "At most 500 events per batch.")
    base_at = back_dated(delta_ms=delta_ms(body))
    events = []
    for item in items:
        if not isinstance(item, dict):
            raise ApiError("invalid_parameters", "Each event must be an object.")
        event_name = opt_str(item, "eventName", max_length=64)
        if not event_name or event_name == "addConnection":
            continue
        events.append(
            EventIn(
                category=GenericEvent.Category.CONNECTION,
                name=event_name,
                data=event_data_parse(event_name, item),
                at=back_dated(delta_ms=delta_ms(item), at=base_at),
                is_retry=False,
                route="connection",
                body=item,
                connection_id=opt_uuid(item, "connectionId", not_found="connection_not_found"),
            )
        )
    services.events_record(session_id=session_id, events=events)
    return empty_response()


# --------------------------------------------------------------------- stats


@sdk_endpoint("POST")
def stats(request: HttpRequest) -> HttpResponse:
    stats_take(body_bytes(request))
    return empty_response()


def stats_take(raw: bytes) -> None:
    """The hot path, shared by this view and the bare WSGI lane
    (api.ingest.stats_wsgi): parse, authorise (the token; the sink checks
    the connection), hand the sample to the sink (api.ingest.sinks);
    counted as accepted or refused (by error code) for /metrics. Raises
    what the sink raises: ``ApiError``, or the database's errors."""
    try:
        body = stats_body_decode(raw)
        session_id = tokens.session_token_verify(body.token)
        current_sink().accept(stats_sample_parse(body, session_id=session_id))
    except ApiError as error:
        metrics.labelled(metrics.STATS_REFUSED, error.code).inc()
        raise
    except (OperationalError, InterfaceError):
        metrics.labelled(metrics.STATS_REFUSED, "service_unavailable").inc()
        raise
    metrics.labelled(metrics.STATS_ACCEPTED, settings.CONFIG.ingest_sink).inc()


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
    session_id = tokens.session_token_verify(body.get("token"))
    ontrack = request.method == "POST"
    event_name = opt_str(body, "event", max_length=64) or ("ontrack" if ontrack else None)
    if not event_name:
        raise ApiError("missing_parameters", "'event' is required.")
    track_ref = req_str(body, "trackId", max_length=64)
    delta = delta_ms(body)
    data = body.get("data")
    connection_id = opt_uuid(body, "connectionId", not_found="connection_not_found")
    if ontrack:
        if connection_id is None:
            raise ApiError("missing_parameters", "'connectionId' is required.")
        if not isinstance(data, dict):
            raise ApiError("invalid_parameters", "'data' must describe the track.")
    event = EventIn(
        category=GenericEvent.Category.TRACK,
        name=event_name,
        data=data,
        at=back_dated(delta_ms=delta),
        is_retry=bool(delta),
        route=f"tracks:{request.method}",
        body=body,
        connection_id=connection_id,
    )
    track = services.track_record(
        session_id=session_id, event=event, track_ref=track_ref, ontrack=ontrack
    )
    return json_response({"data": track_as_dict(track)})


# ------------------------------------------------------------------ services


def _web_url(request: HttpRequest, path: str) -> str:
    domain = settings.CONFIG.web_domain
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
    path = services.conference_url_path(
        api_key=body.get("apiKey"), conference_id=conference_id, participant_id=user_id
    )
    return json_response({"url": _web_url(request, path)})


@sdk_endpoint("POST")
def services_stop_conference(request: HttpRequest) -> HttpResponse:
    body = body_parse(request)
    conference_id = opt_str(body, "conferenceId", max_length=64, truncate=True)
    if not body.get("apiKey") or not conference_id:
        raise ApiError("missing_parameters")
    services.conference_stop(api_key=body["apiKey"], conference_id=conference_id, at=clock.now())
    return json_response({})


@sdk_endpoint("POST")
def noop(request: HttpRequest) -> HttpResponse:
    """Reads the body and answers ``""``: the cost of the server stack alone,
    which bench/load.py compares the stats path with (docs/benchmarks.md)."""
    request.body  # noqa: B018  (read like every SDK route reads it)
    return empty_response()
