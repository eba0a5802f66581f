"""Apps: listed to members, managed by admins and owners."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from api.common.time import now
from api.query.tests.conftest import ApiClient
from api.tenancy.models import App, AppUsageDay

APP_KEYS = {
    "id",
    "name",
    "api_key",
    "domain",
    "organization",
    "interval",
    "recording",
    "durations_days",
    "created_at",
}


@pytest.mark.django_db
def test_a_member_lists_the_apps_of_their_organizations_only(acme, globex):
    # given a deleted app in acme
    App.objects.create(organization=acme.organization, name="gone", is_active=False)

    answer = ApiClient(acme.member).get("/v1/apps")

    # then only acme's active app is listed (the original listed every
    # tenant's apps, deleted ones included, with their keys)
    assert answer.status == 200
    assert [a["name"] for a in answer.data] == ["acme app"]
    app = answer.data[0]
    assert set(app) == APP_KEYS
    assert app["organization"] == str(acme.organization.pk)
    assert app["api_key"] == acme.app.api_key


@pytest.mark.django_db
def test_durations_days_covers_the_last_31_days_including_today(acme):
    # given usage today, 3 days ago and 40 days ago
    AppUsageDay.objects.create(app=acme.app, day=now().date() - timedelta(days=40), seconds=999)

    app = ApiClient(acme.member).get(f"/v1/apps/{acme.app.pk}").data

    days = app["durations_days"]
    today = now().date()
    assert list(days) == [(today - timedelta(days=n)).isoformat() for n in range(30, -1, -1)]
    # today is shown (the original dropped it outside DEBUG)
    assert days[today.isoformat()] == 61
    assert days[(today - timedelta(days=3)).isoformat()] == 120
    assert sum(days.values()) == 181


@pytest.mark.django_db
def test_an_admin_creates_an_app_with_a_fresh_key(acme):
    answer = ApiClient(acme.admin).post(
        "/v1/apps",
        {
            "organization": str(acme.organization.pk),
            "name": "Support desk",
            "domain": "*.acme.test, localhost",
            "interval": 5000,
        },
    )

    assert answer.status == 201, answer
    app = answer.data
    assert set(app) == APP_KEYS
    assert re.fullmatch(r"[a-z0-9]{32}", app["api_key"])
    assert (app["name"], app["domain"], app["interval"], app["recording"]) == (
        "Support desk",
        "*.acme.test, localhost",
        5000,
        True,
    )
    assert set(app["durations_days"].values()) == {0}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": ""}, "missing_parameters"),
        ({"name": "x", "interval": 10}, "invalid_parameters"),
        ({"name": "x", "interval": "often"}, "invalid_parameters"),
        ({"name": "x", "domain": "https://acme.test/path"}, "invalid_parameters"),
        ({"name": "x", "recording": "maybe"}, "invalid_parameters"),
    ],
)
def test_an_invalid_app_is_refused(acme, body, code):
    answer = ApiClient(acme.owner).post(
        "/v1/apps", {"organization": str(acme.organization.pk), **body}
    )

    assert answer.status == 400, answer
    assert answer.json["error_code"] == code
    assert App.objects.filter(organization=acme.organization).count() == 1


@pytest.mark.django_db
def test_an_app_in_an_unknown_organization_is_not_found(acme):
    answer = ApiClient(acme.owner).post(
        "/v1/apps", {"organization": "00000000-0000-0000-0000-000000000000", "name": "x"}
    )

    assert answer.status == 404


@pytest.mark.django_db
def test_an_admin_updates_only_the_fields_sent(acme):
    acme.app.domain = "acme.test"
    acme.app.save()
    client = ApiClient(acme.admin)

    renamed = client.put(f"/v1/apps/{acme.app.pk}", {"name": "Acme meetings"})
    paused = client.put(f"/v1/apps/{acme.app.pk}", {"recording": False, "interval": 2000})
    cleared = client.put(f"/v1/apps/{acme.app.pk}", {"domain": None})

    assert renamed.data["name"] == "Acme meetings" and renamed.data["domain"] == "acme.test"
    assert paused.data["recording"] is False and paused.data["interval"] == 2000
    # domain: null lifts the restriction (the original answered a 500)
    assert cleared.status == 200 and cleared.data["domain"] == ""
    acme.app.refresh_from_db()
    assert (acme.app.name, acme.app.recording, acme.app.interval, acme.app.domain) == (
        "Acme meetings",
        False,
        2000,
        "",
    )


@pytest.mark.django_db
def test_the_new_interval_is_what_the_sdk_gets(acme, sdk):
    ApiClient(acme.admin).put(f"/v1/apps/{acme.app.pk}", {"interval": 3000})

    answer = sdk.post(
        "/v1/initialize", {"apiKey": acme.app.api_key, "conferenceId": "c", "userId": "u"}
    )

    assert answer.json["getStatsInterval"] == 3000


@pytest.mark.django_db
def test_a_deleted_app_disappears(acme):
    client = ApiClient(acme.owner)

    deleted = client.delete(f"/v1/apps/{acme.app.pk}")

    assert deleted.status == 200 and deleted.json == ""
    assert client.get("/v1/apps").data == []
    assert client.get(f"/v1/apps/{acme.app.pk}").status == 404
    assert client.delete(f"/v1/apps/{acme.app.pk}").status == 404
    assert client.get(f"/v1/sessions/{acme.sessions[0].pk}").status == 404


@pytest.mark.django_db
def test_apps_page_with_limit_and_offset(acme):
    for n in range(4):
        App.objects.create(organization=acme.organization, name=f"app {n}")
    client = ApiClient(acme.member)

    page = client.get("/v1/apps", limit="2", offset="1")

    assert page.json["count"] == 5
    assert [a["name"] for a in page.json["results"]] == ["app 0", "app 1"]
