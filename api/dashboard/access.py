"""Who sees which page: every dashboard view goes through ``page`` (login
required; the app, conference or participant named in the URL must be
visible to the user, else the same 404 as for one that does not exist),
with the permission rules of the query API (api.tenancy.selectors)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from api.common.errors import ApiError
from api.dashboard.models import Preference
from api.tenancy.models import App, Membership, User
from api.tenancy.selectors import ROLE_RANK, apps_visible_to


class PageRequest(HttpRequest):
    """A request that passed ``page``: its user is logged in."""

    user: User


@dataclass
class Nav:
    """The apps the user may see (with the user's role in each one's
    organization) and the one the page is about."""

    apps: list[App]
    current: App | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def app(self, app_id: uuid.UUID) -> App:
        for app in self.apps:
            if app.pk == app_id:
                return app
        raise ApiError("not_found")

    @property
    def organizations(self) -> list[tuple[Any, list[App]]]:
        grouped: dict[Any, list[App]] = {}
        for app in self.apps:
            grouped.setdefault(app.organization, []).append(app)
        return list(grouped.items())

    def can(self, role: str, app: App | None = None) -> bool:
        app = app or self.current
        if app is None:
            return False
        held = getattr(app, "caller_role", None) or Membership.Role.MEMBER
        return ROLE_RANK[Membership.Role(held)] >= ROLE_RANK[Membership.Role(role)]


def nav_for(user) -> Nav:
    """One statement: the visible apps, their organizations and roles."""
    role = Membership.objects.filter(user=user, organization_id=OuterRef("organization_id"))
    apps = (
        apps_visible_to(user=user)
        .select_related("organization")
        .annotate(caller_role=Subquery(role.values("role")[:1]))
        .order_by("organization__name", "organization_id", "name", "id")
    )
    return Nav(apps=list(apps))


def remember(request: PageRequest, app: App) -> None:
    """The app a user last looked at is the one ``/`` opens next time, in
    any browser. Written only when it changes (the session knows the last
    one written, so looking around one app writes nothing)."""
    if request.session.get("dashboard_app") != str(app.pk):
        Preference.objects.update_or_create(user=request.user, defaults={"app": app})
        request.session["dashboard_app"] = str(app.pk)


def remembered_app_id(user) -> uuid.UUID | None:
    return Preference.objects.filter(user=user).values_list("app_id", flat=True).first()


def not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/not_found.html", status=404)


def refused(request: HttpRequest, nav: Nav | None = None) -> HttpResponse:
    return render(request, "dashboard/refused.html", {"nav": nav}, status=403)


def page(view):
    """Login required, then ``view(request, nav, **kwargs)``; ``not_found``
    and ``permission_denied`` from below become the dashboard's 404 and
    403 pages."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url="/login")
        nav = nav_for(request.user)
        try:
            return view(request, nav, **kwargs)
        except ApiError as error:
            if error.code == "not_found":
                return not_found(request)
            if error.code == "permission_denied":
                return refused(request, nav)
            raise

    return wrapped
