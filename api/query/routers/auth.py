"""Login, logout, the current user, and personal API tokens."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import Router, Status

from api.common.errors import ApiError
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS
from api.query.routers.organizations import organizations_with_role
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
from api.tenancy.models import ApiToken, User

router = Router(tags=["auth"])


def _me(user: User) -> dict:
    return {"user": user, "organizations": organizations_with_role(user=user)}


@router.post(
    "/auth/login",
    auth=None,
    response={200: LoginOut, 400: ErrorOut, 401: ErrorOut, 429: ErrorOut},
    summary="Log in (starts a dashboard session)",
)
def auth_login(request: HttpRequest, payload: LoginIn) -> Any:
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
    return {"data": _me(user), "csrf_token": get_token(request)}


@router.post("/auth/logout", response={200: str, **ERRORS}, summary="Log out")
def auth_logout(request: AuthedRequest) -> Any:
    logout(request)
    return ""


@router.get("/auth/me", response={200: data_of(MeOut, "MeData"), **ERRORS})
def auth_me(request: AuthedRequest) -> Any:
    """The caller and their organizations with their role in each."""
    return {"data": _me(request.auth)}


@router.get("/auth/tokens", response={200: list_of(TokenOut, "TokenList"), **ERRORS})
def token_list(request: AuthedRequest) -> Any:
    """The caller's API tokens (never the tokens themselves)."""
    return {"data": list(ApiToken.objects.filter(user=request.auth).order_by("created_at", "pk"))}


@router.post("/auth/tokens", response={201: data_of(NewTokenOut, "NewTokenData"), **ERRORS})
def token_create(request: AuthedRequest, payload: TokenIn) -> Any:
    """A new token for scripts: send it as ``Authorization: Bearer <token>``.
    It is shown in this answer only."""
    token, raw = services.api_token_create(user=request.auth, name=payload.name)
    token.secret = raw  # type: ignore[attr-defined]
    return Status(201, {"data": token})


@router.delete("/auth/tokens/{uuid:token_id}", response={200: str, **ERRORS})
def token_revoke(request: AuthedRequest, token_id: uuid.UUID) -> Any:
    """Revoke one of the caller's tokens."""
    token = ApiToken.objects.filter(pk=token_id, user=request.auth).first()
    if token is None:
        raise ApiError("not_found")
    services.api_token_revoke(token=token)
    return ""
