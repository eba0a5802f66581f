"""The original server's broken dashboard cases (reference §9.1) that
belong to the query API, each working here."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from api.calls.models import Conference
from api.common.time import now
from api.query.tests.conftest import ApiClient


@pytest.mark.django_db
def test_get_session_by_id_answers_the_session(acme):
    # was: 500 (the view had no pk parameter)
    answer = ApiClient(acme.member).get(f"/v1/sessions/{acme.sessions[0].pk}")

    assert answer.status == 200, answer
    assert answer.data["id"] == str(acme.sessions[0].pk)
    assert answer.data["constraints"] == {"audio": True, "video": True}
    assert answer.data["issues"] == [str(acme.issues[1].pk)]


@pytest.mark.django_db
def test_get_organizations_lists_them(acme):
    # was: 500
    answer = ApiClient(acme.member).get("/v1/organizations")

    assert answer.status == 200, answer
    assert [o["id"] for o in answer.data] == [str(acme.organization.pk)]


@pytest.mark.django_db
def test_resetting_an_api_key_changes_it_and_the_old_key_is_refused(acme, sdk):
    # was: always 400 invalid_parameters, key never changed
    old_key = acme.app.api_key

    answer = ApiClient(acme.admin).post(f"/v1/apps/{acme.app.pk}/reset-key")

    assert answer.status == 200, answer
    new_key = answer.data["api_key"]
    assert new_key != old_key and re.fullmatch(r"[a-z0-9]{32}", new_key)
    body = {"conferenceId": "c", "userId": "u"}
    assert sdk.post("/v1/initialize", {**body, "apiKey": old_key}).json["error_code"] == (
        "invalid_api_key"
    )
    assert sdk.post("/v1/initialize", {**body, "apiKey": new_key}).status == 200


@pytest.mark.django_db
def test_participants_count_is_zero_not_null(acme):
    # was: null for a conference without qualifying participants
    Conference.objects.create(app=acme.app, conference_id="nobody-came")

    answer = ApiClient(acme.member).get("/v1/conferences", ongoing="false")

    counts = {c["conference_id"]: c["participants_count"] for c in answer.data}
    assert counts == {"acme-room": 2, "nobody-came": 0}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bound", ["created_at_gt", "created_at_gte", "created_at_lt", "created_at_lte"]
)
def test_created_at_filters_accept_a_z_suffix(acme, bound):
    # was: created_at_gt with a Z (what toISOString() produces) -> 500
    since = (now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    answer = ApiClient(acme.member).get("/v1/conferences", **{bound: since})

    assert answer.status == 200, answer
    expected = ["acme-room"] if bound.startswith("created_at_gt") else []
    assert [c["conference_id"] for c in answer.data] == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"appId": "1234"},
        {"participantId": "not-a-uuid"},
        {"conference_ids": "x,y"},
        {"created_at_gte": "last tuesday"},
        {"duration_gte": "long"},
        {"duration_lt": "1.5"},
        {"limit": "ten"},
    ],
)
def test_malformed_uuid_date_and_number_filters_are_a_400(acme, params):
    # was: 500 for UUIDs and numbers
    answer = ApiClient(acme.member).get("/v1/conferences", **params)

    assert answer.status == 400, answer
    assert answer.json["error_code"] == "invalid_parameters"


def test_graphs_with_a_far_offset_moment_is_not_a_server_error(client, django_user_model):
    # Found by schemathesis: PostgreSQL refuses a +16:40 offset the parser accepts.
    from api.calls.models import Conference
    from api.tenancy.models import App, Membership, Organization

    user = django_user_model.objects.create_user(username="u", password="p")
    organization = Organization.objects.create(name="o")
    Membership.objects.create(user=user, organization=organization, role="member")
    app = App.objects.create(organization=organization, name="a")
    conference = Conference.objects.create(app=app, conference_id="c")
    client.force_login(user)

    response = client.get(
        f"/v1/conferences/{conference.pk}/graphs",
        {"start": "0600-06-06T10:15:54.379256+16:40"},
    )

    assert response.status_code == 200
