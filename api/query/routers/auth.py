"""Login, logout, the current user, and personal API tokens."""

from __future__ import annotations

import uuid
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import Router, Status
from ninja.utils import check_csrf

from api.common import limits
from api.common.errors import ApiError
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS
from api.query.routers.organizations import organizations_with_role
from api.query.schemas import (
    CsrfOut,
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
    response={200: LoginOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut},
    summary="Log in (starts a dashboard session)",
)
def auth_login(request: HttpRequest, payload: LoginIn) -> Any:
    """Checks the credentials and sets the session cookie. Like every
    unsafe request of a browser, it must carry the CSRF token (the
    ``csrftoken`` cookie, from ``GET /v1/auth/csrf``, in the
    ``X-CSRFToken`` header), whatever its Content-Type: a page of another
    site cannot log its visitor in. Later unsafe requests authenticated by
    the session cookie send the returned ``csrf_token`` the same way.

    Limits, checked before the password is hashed: ``RATE_LIMIT_LOGIN``
    attempts per address, and ``LOGIN_FAILURE_LIMIT`` (10) failures lock
    the account, and separately the address, out for
    ``LOGIN_LOCKOUT_MINUTES`` (15): 429 ``rate_limited`` with
    ``Retry-After``."""
    if check_csrf(request) is not None:
        raise ApiError("csrf_failed")
    limits.login_limit_check(request)
    if not AxesProxyHandler.is_allowed(request, {"username": payload.username}):
        raise ApiError(
            "rate_limited",
            "Too many failed logins. Try again later.",
            retry_after=settings.CONFIG.login_lockout_minutes * 60,
        )
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        raise ApiError("invalid_credentials")
    login(request, user)
    return {"data": _me(user), "csrf_token": get_token(request)}


@router.get(
    "/auth/csrf", auth=None, response={200: CsrfOut, 429: ErrorOut}, summary="The CSRF token"
)
def auth_csrf(request: HttpRequest) -> Any:
    """Sets the ``csrftoken`` cookie and answers its value, to send as
    ``X-CSRFToken`` with the login."""
    return {"csrf_token": get_token(request)}


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
