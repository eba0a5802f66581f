"""Tenancy over the whole query API: every operation the code declares is
called as an anonymous caller, as a user of another organization and as a
plain member, against the objects of one tenant (acme).

The list of operations comes from the code (its OpenAPI document), the
expectations from ``CASES`` below: an operation added without a case fails
here until someone decides who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from api.query.openapi import openapi_document
from api.query.tests.conftest import ApiClient
from api.query.tests.factories import Tenant, user_make
from api.tenancy import services
from api.tenancy.models import ApiToken, App, Membership, Organization

OK = "ok"  # a 2xx answer
NOT_FOUND = "not_found"  # exactly the not_found error, nothing else
FORBIDDEN = "forbidden"  # permission_denied
NO_LEAK = "no_leak"  # a 2xx answer that mentions nothing of acme
UNAUTHORIZED = "unauthorized"  # 401 whoever calls (the login with a wrong password)

Request = tuple[str, dict[str, Any], Any]  # path (without /v1), query, body


@dataclass(frozen=True)
class Case:
    request: Callable[[Tenant], Request]
    outsider: str
    member: str
    anonymous: str = "unauthorized"


def _get(path: Callable[[Tenant], str], **query: Callable[[Tenant], Any]) -> Callable:
    return lambda t: (path(t), {k: v(t) for k, v in query.items()}, None)


def _with_body(path: Callable[[Tenant], str], body: Callable[[Tenant], Any]) -> Callable:
    return lambda t: (path(t), {}, body(t))


def _app_id(t):
    return t.app.pk


def _conf(t):
    return t.conference.pk


def _org(t):
    return f"/organizations/{t.organization.pk}"


def _app(t):
    return f"/apps/{t.app.pk}"


def _invitation(t):
    """A pending invitation of the tenant, addressed to nobody of the test."""
    from api.tenancy.models import Invitation

    invitation = Invitation.objects.filter(organization=t.organization).first()
    if invitation is None:
        invitation = services.invitation_create(
            organization=t.organization, invited_by=t.owner, role="member", username="someone"
        )
    return invitation.pk


def _owner_token(t):
    return ApiToken.objects.filter(user=t.owner).first().pk


def _webhook(t) -> str:
    from api.webhooks.models import Endpoint

    endpoint = Endpoint.objects.filter(app=t.app).first() or Endpoint.objects.create(
        app=t.app, url="https://hooks.example.com/pm", secret="whsec_c2VjcmV0"
    )
    return f"/webhooks/{endpoint.pk}"


def _summary(path: str) -> Case:
    return Case(request=_get(lambda t: path, appId=_app_id), outsider=NOT_FOUND, member=OK)


CASES: dict[tuple[str, str], Case] = {
    # auth
    ("POST", "/auth/login"): Case(
        request=_with_body(
            lambda t: "/auth/login", lambda t: {"username": t.owner.username, "password": "wrong"}
        ),
        outsider=UNAUTHORIZED,
        member=UNAUTHORIZED,
    ),
    ("GET", "/auth/csrf"): Case(
        request=_get(lambda t: "/auth/csrf"), outsider=NO_LEAK, member=NO_LEAK, anonymous=NO_LEAK
    ),
    ("POST", "/auth/logout"): Case(
        request=_with_body(lambda t: "/auth/logout", lambda t: None), outsider=NO_LEAK, member=OK
    ),
    ("GET", "/auth/me"): Case(request=_get(lambda t: "/auth/me"), outsider=NO_LEAK, member=OK),
    ("GET", "/auth/tokens"): Case(
        request=_get(lambda t: "/auth/tokens"), outsider=NO_LEAK, member=OK
    ),
    ("POST", "/auth/tokens"): Case(
        request=_with_body(lambda t: "/auth/tokens", lambda t: {"name": "ci"}),
        outsider=NO_LEAK,
        member=OK,
    ),
    ("DELETE", "/auth/tokens/{token_id}"): Case(
        request=_get(lambda t: f"/auth/tokens/{_owner_token(t)}"),
        outsider=NOT_FOUND,
        member=NOT_FOUND,
    ),
    # organizations and members
    ("GET", "/organizations"): Case(
        request=_get(lambda t: "/organizations"), outsider=NO_LEAK, member=OK
    ),
    ("POST", "/organizations"): Case(
        request=_with_body(lambda t: "/organizations", lambda t: {"name": "Initech"}),
        outsider=NO_LEAK,
        member=OK,
    ),
    ("GET", "/organizations/{organization_id}"): Case(
        request=_get(_org), outsider=NOT_FOUND, member=OK
    ),
    ("PUT", "/organizations/{organization_id}"): Case(
        request=_with_body(_org, lambda t: {"name": "renamed"}),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("DELETE", "/organizations/{organization_id}"): Case(
        request=_get(_org), outsider=NOT_FOUND, member=FORBIDDEN
    ),
    ("GET", "/organizations/{organization_id}/members"): Case(
        request=_get(lambda t: f"{_org(t)}/members"), outsider=NOT_FOUND, member=OK
    ),
    ("GET", "/organizations/{organization_id}/invitations"): Case(
        request=_get(lambda t: f"{_org(t)}/invitations"), outsider=NOT_FOUND, member=FORBIDDEN
    ),
    ("POST", "/organizations/{organization_id}/invitations"): Case(
        request=_with_body(lambda t: f"{_org(t)}/invitations", lambda t: {"username": "drifter"}),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("DELETE", "/organizations/{organization_id}/invitations/{invitation_id}"): Case(
        request=_get(lambda t: f"{_org(t)}/invitations/{_invitation(t)}"),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("GET", "/invitations"): Case(
        request=_get(lambda t: "/invitations"), outsider=NO_LEAK, member=NO_LEAK
    ),
    ("POST", "/invitations/{invitation_id}/accept"): Case(
        request=_with_body(lambda t: f"/invitations/{_invitation(t)}/accept", lambda t: None),
        outsider=NOT_FOUND,
        member=NOT_FOUND,
    ),
    ("POST", "/invitations/{invitation_id}/decline"): Case(
        request=_with_body(lambda t: f"/invitations/{_invitation(t)}/decline", lambda t: None),
        outsider=NOT_FOUND,
        member=NOT_FOUND,
    ),
    ("PUT", "/organizations/{organization_id}/members/{user_id}"): Case(
        request=_with_body(
            lambda t: f"{_org(t)}/members/{t.admin.pk}", lambda t: {"role": "owner"}
        ),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("DELETE", "/organizations/{organization_id}/members/{user_id}"): Case(
        request=_get(lambda t: f"{_org(t)}/members/{t.admin.pk}"),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    # apps
    ("GET", "/apps"): Case(
        request=_get(lambda t: "/apps", organizationId=lambda t: t.organization.pk),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("POST", "/apps"): Case(
        request=_with_body(
            lambda t: "/apps", lambda t: {"organization": str(t.organization.pk), "name": "new"}
        ),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("GET", "/apps/{app_id}"): Case(request=_get(_app), outsider=NOT_FOUND, member=OK),
    ("PUT", "/apps/{app_id}"): Case(
        request=_with_body(_app, lambda t: {"recording": False}),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("DELETE", "/apps/{app_id}"): Case(request=_get(_app), outsider=NOT_FOUND, member=FORBIDDEN),
    ("POST", "/apps/{app_id}/reset-key"): Case(
        request=_with_body(lambda t: f"{_app(t)}/reset-key", lambda t: None),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    # summaries
    **{
        ("GET", path): _summary(path)
        for path in (
            "/conferences/summary",
            "/conferences/duration-summary",
            "/conferences/participant-count-summary",
            "/issues/summary",
            "/issues/gum-summary",
            "/connections/summary",
            "/connections/setup-time-summary",
            "/sessions/summary",
        )
    },
    # calls
    ("GET", "/conferences"): Case(
        request=_get(lambda t: "/conferences", appId=_app_id), outsider=NOT_FOUND, member=OK
    ),
    ("GET", "/conferences/{conference_id}"): Case(
        request=_get(lambda t: f"/conferences/{t.conference.pk}"), outsider=NOT_FOUND, member=OK
    ),
    ("GET", "/conferences/{conference_id}/events"): Case(
        request=_get(lambda t: f"/conferences/{t.conference.pk}/events"),
        outsider=NOT_FOUND,
        member=OK,
    ),
    # quality
    ("GET", "/conferences/{conference_id}/graphs"): Case(
        request=_get(lambda t: f"/conferences/{t.conference.pk}/graphs", points=lambda t: 10),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/conferences/{conference_id}/quality"): Case(
        request=_get(lambda t: f"/conferences/{t.conference.pk}/quality"),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/participants/{participant_id}/quality"): Case(
        request=_get(lambda t: f"/participants/{t.participants[0].pk}/quality", conferenceId=_conf),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/connections/{connection_id}/quality"): Case(
        request=_get(lambda t: f"/connections/{t.connections[0].pk}/quality"),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/participants"): Case(
        request=_get(lambda t: "/participants", conferenceId=_conf), outsider=NOT_FOUND, member=OK
    ),
    ("GET", "/participants/{participant_id}"): Case(
        request=_get(lambda t: f"/participants/{t.participants[0].pk}"),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("DELETE", "/participants/{participant_id}"): Case(
        request=_get(lambda t: f"/participants/{t.participants[0].pk}"),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("GET", "/sessions"): Case(
        request=_get(lambda t: "/sessions", conferenceId=_conf), outsider=NOT_FOUND, member=OK
    ),
    ("GET", "/sessions/{session_id}"): Case(
        request=_get(lambda t: f"/sessions/{t.sessions[0].pk}"), outsider=NOT_FOUND, member=OK
    ),
    ("GET", "/connections"): Case(
        request=_get(lambda t: "/connections", sessionId=lambda t: t.sessions[0].pk),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/connections/{connection_id}"): Case(
        request=_get(lambda t: f"/connections/{t.connections[0].pk}"),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/issues"): Case(
        request=_get(lambda t: "/issues", participantId=lambda t: t.participants[0].pk),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/issues/{issue_id}"): Case(
        request=_get(lambda t: f"/issues/{t.issues[0].pk}"), outsider=NOT_FOUND, member=OK
    ),
    # event lists of the SDK routes
    **{
        ("GET", path): Case(
            request=_get(lambda t, path=path: path, conferenceId=_conf),  # type: ignore[misc]
            outsider=NOT_FOUND,
            member=OK,
        )
        for path in ("/events/browser", "/events/get-user-media", "/connection", "/stats")
    },
    # interop: imports (admins), exports (members), webhooks (members read, admins change)
    ("POST", "/apps/{app_id}/imports"): Case(
        request=_with_body(lambda t: f"{_app(t)}/imports", lambda t: None),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("GET", "/conferences/{conference_id}/export"): Case(
        request=_get(lambda t: f"/conferences/{t.conference.pk}/export"),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/apps/{app_id}/export"): Case(
        request=_get(lambda t: f"{_app(t)}/export", format=lambda t: "csv"),
        outsider=NOT_FOUND,
        member=OK,
    ),
    ("GET", "/apps/{app_id}/webhooks"): Case(
        request=_get(lambda t: f"{_app(t)}/webhooks"), outsider=NOT_FOUND, member=OK
    ),
    ("POST", "/apps/{app_id}/webhooks"): Case(
        request=_with_body(
            lambda t: f"{_app(t)}/webhooks", lambda t: {"url": "https://hooks.example.com/a"}
        ),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("GET", "/webhooks/{endpoint_id}"): Case(request=_get(_webhook), outsider=NOT_FOUND, member=OK),
    ("PATCH", "/webhooks/{endpoint_id}"): Case(
        request=_with_body(_webhook, lambda t: {"description": "renamed"}),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("DELETE", "/webhooks/{endpoint_id}"): Case(
        request=_get(_webhook), outsider=NOT_FOUND, member=FORBIDDEN
    ),
    ("POST", "/webhooks/{endpoint_id}/rotate-secret"): Case(
        request=_with_body(lambda t: f"{_webhook(t)}/rotate-secret", lambda t: None),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("POST", "/webhooks/{endpoint_id}/test"): Case(
        request=_with_body(lambda t: f"{_webhook(t)}/test", lambda t: None),
        outsider=NOT_FOUND,
        member=FORBIDDEN,
    ),
    ("GET", "/webhooks/{endpoint_id}/deliveries"): Case(
        request=_get(lambda t: f"{_webhook(t)}/deliveries"), outsider=NOT_FOUND, member=OK
    ),
    # search
    ("GET", "/search"): Case(
        request=_get(lambda t: "/search", query=lambda t: "acme"), outsider=NO_LEAK, member=OK
    ),
}

OPERATIONS = sorted(
    (method.upper(), path.removeprefix("/v1"))
    for path, item in openapi_document()["paths"].items()
    for method in item
)


def _snapshot() -> tuple:
    return (
        list(Organization.objects.order_by("pk").values()),
        list(App.objects.order_by("pk").values()),
        list(Membership.objects.order_by("pk").values()),
        list(ApiToken.objects.order_by("pk").values("pk", "revoked_at")),
    )


def _call(client: ApiClient, method: str, request: Request, *, prefix: str = "/v1"):
    path, query, body = request
    return client.call(method, prefix + path, body, **{k: str(v) for k, v in query.items()})


@pytest.fixture
def acme_with_token(acme: Tenant) -> Tenant:
    _, raw = services.api_token_create(user=acme.owner, name="owner's script")
    acme.secrets.append(raw)
    user_make("drifter")
    return acme


@pytest.mark.django_db
@pytest.mark.parametrize("caller", ["anonymous", "outsider", "member"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_only_the_people_who_may_see_it(
    method, path, caller, acme_with_token, globex
):
    # given an operation of the code, and the case that says who may call it
    case = CASES.get((method, path))
    assert case is not None, f"{method} {path} has no entry in CASES: decide who may call it"
    acme = acme_with_token
    expected = getattr(case, caller)
    client = {
        "anonymous": lambda: ApiClient(),
        "outsider": lambda: ApiClient(globex.owner),
        "member": lambda: ApiClient(acme.member),
    }[caller]()
    before = _snapshot()

    # when the caller calls it on acme's objects
    answers = [_call(client, method, case.request(acme))]
    if caller == "anonymous":
        # ... under /v1 and without prefix alike
        answers.append(_call(client, method, case.request(acme), prefix=""))

    # then
    for answer in answers:
        if expected == UNAUTHORIZED:
            assert answer.status == 401, answer
            assert answer.json["error_code"] in {"not_authenticated", "invalid_credentials"}
        elif expected == NOT_FOUND:
            assert answer.status == 404, answer
            assert answer.json == {
                "error_code": "not_found",
                "message": "The requested resource does not exist.",
            }
        elif expected == FORBIDDEN:
            assert answer.status == 403, answer
            assert answer.json["error_code"] == "permission_denied"
        elif expected in {OK, NO_LEAK}:
            assert 200 <= answer.status < 300, answer
        text = answer.raw.decode()
        if expected != OK:
            leaked = [value for value in acme.identifiers() if value in text]
            assert not leaked, f"{method} {path} as {caller} leaked {leaked}: {text[:300]}"
    if expected in {UNAUTHORIZED, NOT_FOUND, FORBIDDEN}:
        assert _snapshot() == before, "a refused call changed something"


def test_every_case_names_an_operation_of_the_code():
    # A case left behind by a removed operation would test nothing.
    assert set(CASES) - set(OPERATIONS) == set()


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _undeclared() -> list[tuple[str, str]]:
    from api.ingest.urls import ROUTES

    declared = set(OPERATIONS)
    result = []
    for path in sorted({p for _, p in OPERATIONS}):
        sdk_methods = getattr(ROUTES.get(path), "sdk_methods", ())
        for method in METHODS:
            if (method, path) not in declared and method not in sdk_methods:
                result.append((method, path))
    return result


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), _undeclared(), ids=lambda v: str(v))
def test_a_method_no_operation_takes_is_a_json_405(method, path, acme):
    # given a concrete URL of a path
    concrete = (
        path.replace("{organization_id}", str(acme.organization.pk))
        .replace("{user_id}", str(acme.owner.pk))
        .replace("{token_id}", str(acme.organization.pk))
        .replace("{endpoint_id}", str(acme.app.pk))
        .replace("{app_id}", str(acme.app.pk))
        .replace("{conference_id}", str(acme.conference.pk))
        .replace("{participant_id}", str(acme.participants[0].pk))
        .replace("{session_id}", str(acme.sessions[0].pk))
        .replace("{connection_id}", str(acme.connections[0].pk))
        .replace("{issue_id}", str(acme.issues[0].pk))
        .replace("{invitation_id}", str(acme.organization.pk))
    )

    # when it is called with a method nothing takes there
    answer = ApiClient(acme.owner).call(method, f"/v1{concrete}")

    # then
    assert answer.status == 405, answer
    assert answer.json == {"error_code": "method_not_allowed", "message": "Method not allowed."}
    assert orjson.loads(answer.raw)  # JSON, not Django's empty page
