"""Apps: any member reads them (api key included: it is public in the
pages that run the SDK anyway); admins and owners create, change, delete
them and reset their key."""

from __future__ import annotations

import uuid
from typing import Any

from ninja import Query, Router, Status

from api.query.auth import AuthedRequest
from api.query.responses import ERRORS, listing
from api.query.schemas import (
    AppCreateIn,
    AppListParams,
    AppOut,
    AppUpdateIn,
    data_of,
    list_of,
    page_of,
)
from api.tenancy import services
from api.tenancy.models import App, Membership
from api.tenancy.selectors import (
    app_get_for,
    apps_visible_to,
    organization_get_for,
    usage_days_of,
)

router = Router(tags=["apps"])

ADMIN = Membership.Role.ADMIN
MEMBER = Membership.Role.MEMBER

AppData = data_of(AppOut, "AppData")


def _with_usage(apps: list[App]) -> None:
    usage = usage_days_of(app_ids=[app.pk for app in apps])
    for app in apps:
        app.durations_days = usage[app.pk]  # type: ignore[attr-defined]


def _data(app: App) -> dict:
    _with_usage([app])
    return {"data": app}


@router.get(
    "/apps",
    response={200: list_of(AppOut, "AppList") | page_of(AppOut, "AppPage"), **ERRORS},
)
def app_list(request: AuthedRequest, params: Query[AppListParams]) -> Any:
    """The active apps of the caller's organizations (deleted ones are not
    listed), each with its usage of the last 31 days."""
    queryset = apps_visible_to(user=request.auth)
    if params.organization_id is not None:
        organization_get_for(user=request.auth, organization_id=params.organization_id, role=MEMBER)
        queryset = queryset.filter(organization_id=params.organization_id)

    return listing(queryset, params, prepare=_with_usage)


@router.post("/apps", response={201: AppData, **ERRORS})
def app_create(request: AuthedRequest, payload: AppCreateIn) -> Any:
    """A new app in an organization where the caller is admin or owner."""
    membership = organization_get_for(
        user=request.auth, organization_id=payload.organization, role=ADMIN
    )
    app = services.app_create(
        organization=membership.organization,
        name=payload.name,
        domain=payload.domain,
        interval=payload.interval,
        recording=payload.recording,
    )
    return Status(201, _data(app))


@router.get("/apps/{uuid:app_id}", response={200: AppData, **ERRORS})
def app_detail(request: AuthedRequest, app_id: uuid.UUID) -> Any:
    app = app_get_for(user=request.auth, app_id=app_id, role=MEMBER)
    return _data(app)


@router.put("/apps/{uuid:app_id}", response={200: AppData, **ERRORS})
def app_update(request: AuthedRequest, app_id: uuid.UUID, payload: AppUpdateIn) -> Any:
    """Change the fields given; the others stay."""
    app = app_get_for(user=request.auth, app_id=app_id, role=ADMIN)
    given = payload.model_fields_set
    app = services.app_update(
        app=app,
        name=payload.name,
        domain=payload.domain,
        clear_domain="domain" in given and payload.domain is None,
        interval=payload.interval,
        recording=payload.recording,
    )
    return _data(app)


@router.delete("/apps/{uuid:app_id}", response={200: str, **ERRORS})
def app_delete(request: AuthedRequest, app_id: uuid.UUID) -> Any:
    """Delete: the app and its data disappear and its SDKs are refused."""
    app = app_get_for(user=request.auth, app_id=app_id, role=ADMIN)
    services.app_delete(app=app)
    return ""


@router.post("/apps/{uuid:app_id}/reset-key", response={200: AppData, **ERRORS})
def app_key_reset(request: AuthedRequest, app_id: uuid.UUID) -> Any:
    """A new api key; pages still using the old one are refused at their
    next ``/initialize``."""
    app = app_get_for(user=request.auth, app_id=app_id, role=ADMIN)
    app = services.app_key_reset(app=app)
    return _data(app)
