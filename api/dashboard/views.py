"""The dashboard's pages. Thin: parse the request, call a selector or a
tenancy service (the same ones the query API uses, with its permission
rules), render. Every view goes through ``access.page`` (login, tenancy,
the 404/403 pages)."""

from __future__ import annotations

import uuid
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from api.common import limits
from api.common.errors import ApiError
from api.dashboard import selectors
from api.dashboard.access import Nav, PageRequest, page, remember, remembered_app_id
from api.interop.dumps import DumpError
from api.interop.importer import dump_import, upload_max_bytes, upload_read
from api.quality.catalogue import CATALOGUE
from api.quality.selectors import conference_graphs
from api.query.selectors.calls import conference_get, participant_get
from api.rollups import summaries
from api.tenancy import services as tenancy
from api.tenancy.models import ApiToken, Membership
from api.tenancy.selectors import (
    app_get_for,
    invitations_for,
    invitations_pending,
    members_of,
    organization_get_for,
)

Role = Membership.Role


# ------------------------------------------------------------------- login


class LoginForm(AuthenticationForm):
    """Django's login form with the query API's limits, checked before the
    password is hashed: ``RATE_LIMIT_LOGIN`` per address, and the lockout
    of django-axes (``LOGIN_FAILURE_LIMIT`` failures lock the account, and
    the address, out for ``LOGIN_LOCKOUT_MINUTES``; its backend counts the
    failures of ``authenticate``)."""

    def clean(self) -> dict[str, Any]:
        if self.request is not None:
            try:
                limits.login_limit_check(self.request)
            except ApiError as error:
                raise forms.ValidationError(error.message) from error
            username = self.data.get("username", "")
            if not AxesProxyHandler.is_allowed(self.request, {"username": username}):
                raise forms.ValidationError("Too many failed logins. Try again later.")
        return super().clean()


login = auth_views.LoginView.as_view(
    template_name="dashboard/login.html", authentication_form=LoginForm
)
logout = auth_views.LogoutView.as_view(next_page="/login")


@page
def password_change(request: PageRequest, nav: Nav) -> HttpResponseBase:
    return auth_views.PasswordChangeView.as_view(
        template_name="dashboard/password.html",
        success_url="/password/done",
        extra_context={"nav": nav},
    )(request)


@page
def password_done(request: PageRequest, nav: Nav) -> HttpResponse:
    return render(request, "dashboard/password_done.html", {"nav": nav})


# -------------------------------------------------------------------- home


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """``/``: logged in, the app last looked at (remembered per user), or
    the first; logged out, the login form with where else to go (the
    admin, the API docs, the SDK's apiRoot)."""
    if not request.user.is_authenticated:
        return render(
            request,
            "dashboard/login.html",
            {"form": LoginForm(request), "next": "/", "api_root": _api_root(request)},
        )
    return _home(request)


@page
def _home(request: PageRequest, nav: Nav) -> HttpResponse:
    if not nav.apps:
        return render(request, "dashboard/no_apps.html", {"nav": nav})
    remembered = remembered_app_id(request.user)
    app = next((a for a in nav.apps if a.pk == remembered), nav.apps[0])
    return redirect("dashboard:overview", app_id=app.pk)


@require_GET
@page
def switch(request: PageRequest, nav: Nav) -> HttpResponse:
    """The app switcher's form (works without JavaScript)."""
    app = nav.app(_uuid(request.GET.get("app")))
    return redirect("dashboard:overview", app_id=app.pk)


def _app(request: PageRequest, nav: Nav, app_id: uuid.UUID):
    nav.current = nav.app(app_id)
    remember(request, nav.current)
    return nav.current


def _api_root(request: HttpRequest) -> str:
    return request.build_absolute_uri("/v1").rstrip("/")


# ---------------------------------------------------------------- overview


def _bars(counter: dict[str, int], order: list[str] | None = None) -> list[dict[str, Any]]:
    keys = order if order is not None else sorted(counter, key=lambda k: -counter[k])
    top = max([counter.get(k, 0) for k in keys] or [0]) or 1
    return [
        {"label": k, "n": counter.get(k, 0), "pct": round(100 * counter.get(k, 0) / top, 1)}
        for k in keys
    ]


@require_GET
@page
def overview(request: PageRequest, nav: Nav, app_id: uuid.UUID) -> HttpResponse:
    app = _app(request, nav, app_id)
    when = selectors.range_parse(request.GET.dict())
    if not selectors.app_has_calls(app=app):
        return render(
            request,
            "dashboard/empty.html",
            {"nav": nav, "app": app, "api_root": _api_root(request)},
        )
    data = selectors.overview(app=app, when=when)
    total = data["total"]
    ongoing_days = data["ongoing_days"]
    per_day = {day: dict(d.get("calls", {})) for day, d in data["days"]}
    minutes = {day: round(d.get("seconds", 0) / 60) for day, d in data["days"]}
    for day, n in ongoing_days.items():
        per_day.setdefault(day, {})["ongoing"] = n
    top_day = max([sum(c.values()) for c in per_day.values()] or [0]) or 1
    days = [
        {
            "day": day,
            "good": calls.get("good", 0),
            "warning": calls.get("warning", 0),
            "error": calls.get("error", 0),
            "ongoing": calls.get("ongoing", 0),
            "minutes": minutes.get(day, 0),
            "scale": 100 / top_day,
        }
        for day, calls in sorted(per_day.items())
    ]
    issues = sorted(total.get("issues", {}).items(), key=lambda i: (-i[1], i[0]))[:10]
    context = {
        "nav": nav,
        "app": app,
        "when": when,
        "data": data,
        "days": days,
        "issues": [
            {
                "code": code,
                "n": n,
                "calls": total.get("issue_calls", {}).get(code, 0),
                "title": CATALOGUE[code].title if code in CATALOGUE else code,
            }
            for code, n in issues
        ],
        "histograms": [
            ("Audio MOS (per call)", _bars(total.get("mos", {}), summaries.SCORE_BUCKETS)),
            ("Video score (per call)", _bars(total.get("video", {}), summaries.SCORE_BUCKETS)),
            (
                "Connection setup time",
                _bars(total.get("setup", {}), [b for _, b in summaries.SETUP_BUCKETS]),
            ),
            (
                "Call duration",
                _bars(total.get("duration", {}), [b for _, b in summaries.DURATION_BUCKETS]),
            ),
        ],
        "platforms": [
            ("Browsers", _bars(total.get("browsers", {}))[:8]),
            ("Operating systems", _bars(total.get("os", {}))[:8]),
            ("WebRTC SDKs", _bars(total.get("sdk", {}))[:8]),
            ("Network", _bars(total.get("network", {}), ["direct", "relayed", "unknown"])),
        ],
    }
    return render(request, "dashboard/overview.html", context)


# ------------------------------------------------------------------- calls


def _uuid(value: str | None) -> uuid.UUID:
    """The id in a form field; a malformed one is the nil id, which
    matches nothing."""
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return uuid.UUID(int=0)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_GET
@page
def calls(request: PageRequest, nav: Nav, app_id: uuid.UUID) -> HttpResponse:
    app = _app(request, nav, app_id)
    params = request.GET
    minutes = _int(params.get("min_minutes"))
    filters = selectors.CallFilters(
        when=selectors.range_parse(params.dict()),
        outcome=params.get("outcome", ""),
        code=params.get("code", "")[:40],
        participant=params.get("participant", "").strip()[:64],
        min_duration=minutes * 60 if minutes else None,
        ongoing=params.get("ongoing") == "1",
        q=params.get("q", "").strip()[:64],
    )
    rows, cursor = selectors.calls_page(app=app, filters=filters, cursor=params.get("cursor", ""))
    query = params.copy()
    query.pop("cursor", None)
    query.pop("partial", None)
    context = {
        "nav": nav,
        "app": app,
        "rows": rows,
        "cursor": cursor,
        "filters": filters,
        "query": query.urlencode(),
        "codes": sorted(CATALOGUE),
    }
    if params.get("partial"):
        return render(request, "dashboard/_calls_rows.html", context)
    return render(request, "dashboard/calls.html", context)


# --------------------------------------------------------------- call page


@require_GET
@page
def call(request: PageRequest, nav: Nav, conference_id: uuid.UUID) -> HttpResponse:
    conference = conference_get(user=request.user, conference_id=conference_id)
    app = _app(request, nav, conference.app_id)
    live = selectors.call_live(conference=conference)
    events, cursor = selectors.events_page(conference=conference)
    return render(
        request,
        "dashboard/call.html",
        {"nav": nav, "app": app, "live": live, "events": events, "cursor": cursor},
    )


def _shading(issues) -> list[dict[str, Any]]:
    return [
        {
            "code": issue.code,
            "type": issue.type,
            "title": issue.title,
            "connection": str(issue.connection_id) if issue.connection_id else None,
            "participant": str(issue.participant_id) if issue.participant_id else None,
            "track": str(issue.track_id) if issue.track_id else None,
            "from": int(issue.created_at.timestamp() * 1000),
            "to": int(issue.resolved_at.timestamp() * 1000) if issue.resolved_at else None,
        }
        for issue in issues
    ]


@require_GET
@page
def call_data(request: PageRequest, nav: Nav, conference_id: uuid.UUID) -> HttpResponse:
    """The call page's one endpoint: the chart data, the issue intervals
    and the parts that change while the call runs (polled while ongoing)."""
    conference = conference_get(user=request.user, conference_id=conference_id)
    nav.current = nav.app(conference.app_id)
    points = min(max(_int(request.GET.get("points")) or 300, 10), 2000)
    graphs = conference_graphs(conference_id=conference.pk, points=points)
    live = selectors.call_live(conference=conference)
    context = {"nav": nav, "app": nav.current, "live": live}
    parts = {
        name: render(request, f"dashboard/_call_{name}.html", context).content.decode()
        for name in ("header", "participants", "issues")
    }
    return JsonResponse(
        {
            "ongoing": conference.ongoing,
            "graphs": graphs,
            "issues": _shading(live["issues"]),
            "parts": parts,
        }
    )


@require_GET
@page
def call_events(request: PageRequest, nav: Nav, conference_id: uuid.UUID) -> HttpResponse:
    conference = conference_get(user=request.user, conference_id=conference_id)
    nav.current = nav.app(conference.app_id)
    events, cursor = selectors.events_page(
        conference=conference, after=request.GET.get("after", "")
    )
    return render(
        request,
        "dashboard/_events_rows.html",
        {"events": events, "cursor": cursor, "conference": conference},
    )


# -------------------------------------------------------- participant page


@require_GET
@page
def participant(request: PageRequest, nav: Nav, participant_id: uuid.UUID) -> HttpResponse:
    found = participant_get(user=request.user, participant_id=participant_id)
    app = _app(request, nav, found.app_id)
    data = selectors.participant_page(participant=found)
    return render(
        request,
        "dashboard/participant.html",
        {"nav": nav, "app": app, "participant": found, "data": data},
    )


# ------------------------------------------------------------- issues page


@require_GET
@page
def issues(request: PageRequest, nav: Nav, app_id: uuid.UUID) -> HttpResponse:
    app = _app(request, nav, app_id)
    when = selectors.range_parse(request.GET.dict())
    data = selectors.issues_page(app=app, when=when)
    for group in data["groups"]:
        kind = CATALOGUE.get(group["code"])
        group["title"] = kind.title if kind else group["code"]
        group["explanation"] = kind.explanation if kind else ""
        group["resolved"] = group["total"] - group["open"]
    return render(
        request, "dashboard/issues.html", {"nav": nav, "app": app, "when": when, "data": data}
    )


# ---------------------------------------------------------------- settings


class AppForm(forms.Form):
    name = forms.CharField(max_length=64)
    domain = forms.CharField(max_length=256, required=False)
    recording = forms.BooleanField(required=False)
    interval = forms.IntegerField(
        min_value=tenancy.INTERVAL_MIN_MS, max_value=tenancy.INTERVAL_MAX_MS
    )


@page
def app_settings(request: PageRequest, nav: Nav, app_id: uuid.UUID) -> HttpResponse:
    """Everyone in the organization reads; admins change the app and rotate
    its key (checked again by ``app_get_for`` on every write)."""
    app = _app(request, nav, app_id)
    new_key = request.session.pop("new_api_key", None)
    if request.method == "POST":
        app = app_get_for(user=request.user, app_id=app_id, role=Role.ADMIN)
        form = AppForm(request.POST)
        if form.is_valid():
            try:
                tenancy.app_update(
                    app=app,
                    name=form.cleaned_data["name"],
                    domain=form.cleaned_data["domain"],
                    clear_domain=not form.cleaned_data["domain"],
                    recording=form.cleaned_data["recording"],
                    interval=form.cleaned_data["interval"],
                )
            except ApiError as error:
                form.add_error(None, error.message)
            else:
                return redirect(reverse("dashboard:settings", args=[app.pk]) + "?saved=1")
    else:
        form = AppForm(
            initial={
                "name": app.name,
                "domain": app.domain,
                "recording": app.recording,
                "interval": app.interval,
            }
        )
    return render(
        request,
        "dashboard/settings.html",
        {
            "nav": nav,
            "app": app,
            "form": form,
            "new_key": new_key,
            "can_manage": nav.can(Role.ADMIN),
            "saved": request.GET.get("saved"),
        },
    )


@require_POST
@page
def app_rotate(request: PageRequest, nav: Nav, app_id: uuid.UUID) -> HttpResponse:
    app = app_get_for(user=request.user, app_id=app_id, role=Role.ADMIN)
    tenancy.app_key_reset(app=app)
    # Shown once, on the next page (not in the URL, not in a log line).
    request.session["new_api_key"] = app.api_key
    return redirect("dashboard:settings", app_id=app.pk)


@page
def dump_upload(request: PageRequest, nav: Nav, app_id: uuid.UUID) -> HttpResponse:
    """Import a webrtc-internals or rtcstats dump as a call of the app: the
    upload API's service (``api.interop.importer``) and rules (admins and
    owners; the same error codes), then the new call's page."""
    app = _app(request, nav, app_id)
    error = None
    status = 200
    if request.method == "POST":
        app = app_get_for(user=request.user, app_id=app_id, role=Role.ADMIN)
        file = request.FILES.get("file")
        try:
            if file is None:
                raise DumpError("missing_parameters", "Choose a dump file to upload.")
            raw = upload_read(file)
            summary = dump_import(app=app, raw=raw, filename=file.name or "", user=request.user)
        except DumpError as failure:
            kind = ApiError(failure.code, failure.message)
            error = {"code": kind.code, "message": kind.message}
            status = kind.status
        else:
            return redirect("dashboard:call", conference_id=summary.conference)
    return render(
        request,
        "dashboard/import.html",
        {
            "nav": nav,
            "app": app,
            "error": error,
            "limit_mb": upload_max_bytes() // 1_048_576,
            "can_manage": nav.can(Role.ADMIN),
        },
        status=status,
    )


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)


@page
def members(request: PageRequest, nav: Nav, organization_id: uuid.UUID) -> HttpResponse:
    """Members read the list; owners add, change and remove members."""
    membership = organization_get_for(
        user=request.user, organization_id=organization_id, role=Role.MEMBER
    )
    organization = membership.organization
    nav.current = next((a for a in nav.apps if a.organization_id == organization.pk), None)
    error = None
    if request.method == "POST":
        organization_get_for(user=request.user, organization_id=organization_id, role=Role.OWNER)
        action = request.POST.get("action")
        try:
            if action == "add":
                # An invitation, accepted by its addressee on their
                # invitations page (or POST /v1/invitations/<id>/accept);
                # the answer is the same whether or not such a user exists.
                form = MemberForm(request.POST)
                if not form.is_valid():
                    raise ApiError("invalid_parameters", "A username and a role are required.")
                who = form.cleaned_data["username"].strip()
                tenancy.invitation_create(
                    organization=organization,
                    invited_by=request.user,
                    role=form.cleaned_data["role"],
                    **({"email": who} if "@" in who else {"username": who}),
                )
                return redirect(reverse("dashboard:members", args=[organization.pk]) + "?invited=1")
            if action == "revoke":
                invitation = (
                    invitations_pending(organization=organization)
                    .filter(pk=_uuid(request.POST.get("invitation")))
                    .first()
                )
                if invitation is None:
                    raise ApiError("not_found")
                tenancy.invitation_revoke(invitation=invitation)
            else:
                target = Membership.objects.filter(
                    organization=organization, pk=_uuid(request.POST.get("membership"))
                ).first()
                if target is None:
                    raise ApiError("not_found")
                if action == "remove":
                    tenancy.membership_remove(membership=target)
                elif action == "role" and request.POST.get("role") in Role.values:
                    tenancy.membership_role_change(membership=target, role=request.POST["role"])
        except ApiError as failure:
            if failure.code == "not_found":
                raise
            error = failure.message
        else:
            return redirect("dashboard:members", organization_id=organization.pk)
    is_owner = membership.role == Role.OWNER
    return render(
        request,
        "dashboard/members.html",
        {
            "nav": nav,
            "app": nav.current,
            "organization": organization,
            "members": list(members_of(organization=organization)),
            # owners see the invitations nobody answered yet (and revoke them)
            "invitations": (
                list(invitations_pending(organization=organization).select_related("invited_by"))
                if is_owner
                else []
            ),
            "is_owner": is_owner,
            "roles": Role.choices,
            "error": error,
            "invited": request.GET.get("invited") == "1",
        },
    )


@page
def invitations(request: PageRequest, nav: Nav) -> HttpResponse:
    """The invitations addressed to the user (by username or email), to
    accept or decline: the tenancy services the query API's
    ``/v1/invitations`` uses. Someone else's invitation, or one answered or
    lapsed, is the dashboard's 404."""
    error = None
    if request.method == "POST":
        invitation_id = _uuid(request.POST.get("invitation"))
        try:
            if request.POST.get("action") == "accept":
                membership = tenancy.invitation_accept(
                    invitation_id=invitation_id, user=request.user
                )
                return redirect("dashboard:members", organization_id=membership.organization_id)
            if request.POST.get("action") == "decline":
                tenancy.invitation_decline(invitation_id=invitation_id, user=request.user)
                return redirect("dashboard:invitations")
            raise ApiError("invalid_parameters", "Accept or decline an invitation.")
        except ApiError as failure:
            if failure.code == "not_found":
                raise
            error = failure.message
    return render(
        request,
        "dashboard/invitations.html",
        {
            "nav": nav,
            "invitations": list(invitations_for(user=request.user)),
            "error": error,
        },
    )


@page
def tokens(request: PageRequest, nav: Nav) -> HttpResponse:
    """Personal API tokens of the user (the query API's bearer tokens)."""
    created = None
    error = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            token = ApiToken.objects.filter(
                user=request.user, pk=_uuid(request.POST.get("token"))
            ).first()
            if token is not None:
                tenancy.api_token_revoke(token=token)
            return redirect("dashboard:tokens")
        try:
            _, created = tenancy.api_token_create(
                user=request.user, name=request.POST.get("name", "")
            )
        except ApiError as failure:
            error = failure.message
    listed = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(
        request,
        "dashboard/tokens.html",
        {"nav": nav, "tokens": list(listed), "created": created, "error": error},
    )
