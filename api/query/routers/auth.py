"""Login, logout, the current user, and personal API tokens."""

from __future__ import annotations

import uuid

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from ninja import Router

from api.common.errors import ApiError
from api.query import shapes
from api.query.responses import ERRORS, ok
from api.query.schemas import (
    ErrorOut,
    LoginIn,
    LoginOut,
    MeOut,
    NewTokenOut,
    TokenIn,
    TokenOut,
    data_of,
    list_of,
)
from api.tenancy import services
from api.tenancy.models import ApiToken, Organization, User
from api.tenancy.selectors import roles_of

router = Router(tags=["auth"])


def _me(user: User) -> dict:
    roles = roles_of(user=user)
    organizations = Organization.objects.filter(pk__in=list(roles)).order_by("created_at", "pk")
    return {
        "user": shapes.user_shape(user),
        "organizations": [
            shapes.organization_shape(org, role=roles[org.pk]) for org in organizations
        ],
    }


@router.post(
    "/auth/login",
    auth=None,
    response={200: LoginOut, 400: ErrorOut, 401: ErrorOut, 429: ErrorOut},
    summary="Log in (starts a dashboard session)",
)
def auth_login(request: HttpRequest, payload: LoginIn) -> HttpResponse:
    """Checks the credentials and sets the session cookie. Later unsafe
    requests authenticated by that cookie must send the returned
    ``csrf_token`` in the ``X-CSRFToken`` header. Ten failures for one
    username from one address lock that pair out for 15 minutes."""
    attempt = {"username": payload.username, "client_ip": request.META.get("REMOTE_ADDR", "")}
    services.login_throttle_check(**attempt)
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        services.login_failure_record(**attempt)
        raise ApiError("invalid_credentials")
    services.login_failures_clear(**attempt)
    login(request, user)
    return ok({"data": _me(user), "csrf_token": get_token(request)})


@router.post("/auth/logout", response={200: str, **ERRORS}, summary="Log out")
def auth_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return ok("")


@router.get("/auth/me", response={200: data_of(MeOut, "MeData"), **ERRORS})
def auth_me(request: HttpRequest) -> HttpResponse:
    """The caller and their organizations with their role in each."""
    return ok({"data": _me(request.auth)})


@router.get("/auth/tokens", response={200: list_of(TokenOut, "TokenList"), **ERRORS})
def token_list(request: HttpRequest) -> HttpResponse:
    """The caller's API tokens (never the tokens themselves)."""
    tokens = ApiToken.objects.filter(user=request.auth).order_by("created_at", "pk")
    return ok({"data": [shapes.token_shape(token) for token in tokens]})


@router.post("/auth/tokens", response={201: data_of(NewTokenOut, "NewTokenData"), **ERRORS})
def token_create(request: HttpRequest, payload: TokenIn) -> HttpResponse:
    """A new token for scripts: send it as ``Authorization: Bearer <token>``.
    It is shown in this answer only."""
    token, raw = services.api_token_create(user=request.auth, name=payload.name)
    return ok({"data": {**shapes.token_shape(token), "token": raw}}, status=201)


@router.delete("/auth/tokens/{uuid:token_id}", response={200: str, **ERRORS})
def token_revoke(request: HttpRequest, token_id: uuid.UUID) -> HttpResponse:
    """Revoke one of the caller's tokens."""
    token = ApiToken.objects.filter(pk=token_id, user=request.auth).first()
    if token is None:
        raise ApiError("not_found")
    services.api_token_revoke(token=token)
    return ok("")
