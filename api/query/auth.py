"""Who is calling the dashboard API.

Two credentials, tried in this order:

* ``Authorization: Bearer pm_...``: a personal API token, for scripts. A
  request that presents one is judged by it alone: a wrong token is a 401
  even if a session cookie rides along, and no CSRF check applies (a
  browser never adds that header by itself).
* The Django session cookie (``pmsession``), for the dashboard. Because the
  browser sends the cookie on its own, every unsafe method (POST, PUT,
  PATCH, DELETE) must also carry the CSRF token (``X-CSRFToken`` header,
  the value of the ``csrftoken`` cookie).

Nothing else authenticates; an anonymous call is a 401.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from api.common.errors import ApiError
from api.tenancy.models import User
from api.tenancy.services import api_token_authenticate


class AuthedRequest(HttpRequest):
    """A request ``AUTH`` let in: ``auth`` is the caller (for the types;
    django-ninja sets it)."""

    auth: User


class BearerToken(HttpBearer):
    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                "not_authenticated", "The Authorization header must be 'Bearer <token>'."
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(raw=token)
        if user is None:
            raise ApiError("not_authenticated", "Unknown or revoked API token.")
        return user


class SessionCookie(APIKeyCookie):
    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        key = request.COOKIES.get(self.param_name)
        if not key or not request.user.is_authenticated:
            # No (live) session, no credential: a 401 whatever the method.
            return None
        if check_csrf(request) is not None:
            raise ApiError("csrf_failed")
        return key

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return request.user if key is not None else None


AUTH = [BearerToken(), SessionCookie()]
