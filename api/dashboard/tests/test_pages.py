"""Every dashboard page through HTTP: who may see it (members of the
organization; anyone else gets the same 404 as for a missing page), what
it shows, and the SQL it costs (pinned)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from api.calls.models import Conference
from api.dashboard.models import Preference
from api.rollups.models import CallSummary
from api.tenancy.models import App

# A logged-in request costs two statements (the session row, the user row)
# and the switcher's one (the visible apps with their roles).
BASE = 3


def _urls(tenant) -> list[str]:
    app, conference = tenant.app.pk, tenant.conference.pk
    return [
        f"/app/{app}",
        f"/app/{app}?range=7d",
        f"/app/{app}?range=custom&from=2026-01-01&to=2026-12-31",
        f"/app/{app}/calls",
        f"/app/{app}/calls?partial=1",
        f"/app/{app}/issues",
        f"/app/{app}/settings",
        f"/conference/{conference}",
        f"/conference/{conference}/data",
        f"/conference/{conference}/events",
        f"/participant/{tenant.participants[0].pk}",
        f"/organization/{tenant.organization.pk}",
    ]


def test_the_root_shows_the_login_form_and_where_else_to_go(client):
    answer = client.get("/")

    assert answer.status_code == 200
    html = answer.content.decode()
    assert 'action="/login"' in html
    assert 'href="/admin/"' in html and 'href="/v1/docs"' in html
    assert "http://testserver/v1" in html


@pytest.mark.django_db
def test_every_page_asks_an_anonymous_visitor_to_log_in(acme):
    client = Client()
    for url in _urls(acme):
        answer = client.get(url)
        assert answer.status_code == 302, url
        assert answer["Location"].startswith("/login?next="), url


@pytest.mark.django_db
def test_logging_in_opens_the_app_and_remembers_it_for_the_next_visit(acme):
    client = Client()
    answer = client.post(
        "/login", {"username": "acme-member", "password": "correct horse battery", "next": "/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/"

    assert client.get("/")["Location"] == f"/app/{acme.app.pk}"
    other = App.objects.create(organization=acme.organization, name="second app")
    assert client.get(f"/app/{other.pk}").status_code == 200

    # Remembered per user, not per browser.
    elsewhere = Client()
    elsewhere.force_login(acme.member)
    assert elsewhere.get("/")["Location"] == f"/app/{other.pk}"
    assert Preference.objects.get(user=acme.member).app == other


@pytest.mark.django_db
def test_a_wrong_password_is_refused_with_the_form_again(acme):
    answer = Client().post("/login", {"username": "acme-member", "password": "nope"})

    assert answer.status_code == 200
    assert "enter a correct username and password" in answer.content.decode()


@pytest.mark.django_db
def test_every_page_answers_a_member(acme, logged_in):
    client = logged_in(acme.member)
    for url in _urls(acme):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.content[:300])


@pytest.mark.django_db
def test_a_user_of_another_organization_gets_404_on_every_page_of_ours(acme, globex, logged_in):
    client = logged_in(globex.owner)
    for url in _urls(acme):
        answer = client.get(url)
        assert answer.status_code == 404, url
        body = answer.content.decode()
        assert acme.app.name not in body and acme.conference.conference_id not in body
    # Writes too: the forged form posts of an outsider find nothing.
    for url in (f"/app/{acme.app.pk}/settings", f"/app/{acme.app.pk}/settings/rotate-key"):
        assert client.post(url, {"name": "x", "interval": 5000}).status_code == 404
    assert (
        client.post(f"/organization/{acme.organization.pk}", {"action": "add"}).status_code == 404
    )


@pytest.mark.django_db
def test_the_overview_counts_are_those_of_the_database(acme, logged_in):
    answer = logged_in(acme.member).get(f"/app/{acme.app.pk}?range=7d")

    html = answer.content.decode()
    summary = CallSummary.objects.get(conference=acme.conference)
    counts = dict(re.findall(r'data-count="(\w+)"><b>(\d+)</b>', html))
    assert counts[summary.outcome] == "1"
    assert counts["minutes"] == str(round(acme.conference.duration / 60))
    assert counts["participants"] == str(summary.participants) == "2"
    assert counts["ongoing"] == str(Conference.objects.filter(app=acme.app, ongoing=True).count())
    assert acme.conference.conference_name in html  # among the worst calls, with its reason


@pytest.mark.django_db
def test_an_app_without_calls_shows_the_sdk_snippet_with_its_key(acme, logged_in):
    empty = App.objects.create(organization=acme.organization, name="new app")

    html = logged_in(acme.member).get(f"/app/{empty.pk}").content.decode()

    assert f"apiKey: '{empty.api_key}'" in html
    assert "apiRoot: 'http://testserver/v1'" in html


@pytest.mark.django_db
def test_the_calls_list_filters_by_issue_code_and_outcome(acme, logged_in):
    client = logged_in(acme.member)
    code = acme.issues[0].code
    url = f"/app/{acme.app.pk}/calls"

    assert acme.conference.conference_name in client.get(url, {"code": code}).content.decode()
    assert "acme weekly sync" not in client.get(url, {"code": "tcp_used"}).content.decode()
    assert "acme weekly sync" not in client.get(url, {"ongoing": "1"}).content.decode()
    assert "acme weekly sync" in client.get(url, {"q": "weekly"}).content.decode()
    assert "acme weekly sync" in client.get(url, {"participant": "acme-alice"}).content.decode()
    assert "acme weekly sync" in client.get(url, {"participant": "ACME BOB"}).content.decode()
    assert (
        "acme weekly sync" not in client.get(url, {"participant": "globex-alice"}).content.decode()
    )
    assert "acme weekly sync" not in client.get(url, {"q": "nothing like it"}).content.decode()


@pytest.mark.django_db
def test_the_calls_list_pages_by_keyset_without_overlap(acme, logged_in):
    for n in range(30):
        Conference.objects.create(app=acme.app, conference_id=f"extra-{n:02d}")
    client = logged_in(acme.member)

    first = client.get(f"/app/{acme.app.pk}/calls").content.decode()
    cursor = re.search(r"cursor=([\w-]+)&(?:amp;)?partial=1", first).group(1)
    second = client.get(f"/app/{acme.app.pk}/calls", {"cursor": cursor, "partial": "1"})

    ids_first = set(re.findall(r'data-conference="([0-9a-f-]+)"', first))
    ids_second = set(re.findall(r'data-conference="([0-9a-f-]+)"', second.content.decode()))
    assert len(ids_first) == 25 and len(ids_second) == 6
    assert not ids_first & ids_second


@pytest.mark.django_db
def test_the_call_data_has_the_series_and_the_issue_intervals(acme, logged_in):
    answer = logged_in(acme.member).get(f"/conference/{acme.conference.pk}/data")

    data = answer.json()
    assert data["ongoing"] is False
    assert {i["code"] for i in data["issues"]} == {i.code for i in acme.issues}
    assert set(data["parts"]) == {"header", "participants", "issues"}


@pytest.mark.django_db
def test_bad_parameters_never_break_a_page(acme, logged_in):
    client = logged_in(acme.member)
    app = acme.app.pk
    for url in (
        f"/app/{app}?range=custom&from=yesterday&to=",
        f"/app/{app}/calls?cursor=%%%&min_minutes=many",
        f"/app/{app}/calls?cursor=bm90LWEtY3Vyc29y",
        f"/conference/{acme.conference.pk}/events?after=garbage",
        f"/conference/{acme.conference.pk}/data?points=-4",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/switch?app=not-a-uuid").status_code == 404
    assert client.post("/account/tokens", {"action": "revoke", "token": "x"}).status_code == 302
    owner = logged_in(acme.owner)
    answer = owner.post(
        f"/organization/{acme.organization.pk}", {"action": "remove", "membership": "x"}
    )
    assert answer.status_code == 404


@pytest.mark.django_db
def test_get_url_and_search_results_lead_to_dashboard_pages(acme, logged_in, sdk):
    answer = sdk.post(
        "/v1/services/get-url",
        {"apiKey": acme.app.api_key, "conferenceId": acme.conference.conference_id},
    )
    path = answer.json["url"].split("testserver", 1)[-1]
    client = logged_in(acme.member)
    assert client.get(path).status_code == 200, path

    found = client.get("/v1/search", {"query": "acme"}).json()
    assert found["matches"]
    for result in found["matches"]:
        url = result["url"].split("testserver", 1)[-1]
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_a_custom_range_is_kept_in_the_links_to_the_calls(acme, logged_in):
    html = logged_in(acme.member).get(
        f"/app/{acme.app.pk}", {"range": "custom", "from": "2026-01-01", "to": "2026-12-31"}
    )

    body = html.content.decode().replace("&amp;", "&")
    assert "range=custom&from=2026-01-01&to=2026-12-31&outcome=" in body
    assert 'value="2026-12-31"' in body


@pytest.mark.django_db
def test_a_user_changes_their_password_and_logs_out(acme):
    client = Client()
    client.post("/login", {"username": "acme-member", "password": "correct horse battery"})

    changed = client.post(
        "/password",
        {
            "old_password": "correct horse battery",
            "new_password1": "a much longer passphrase 42",
            "new_password2": "a much longer passphrase 42",
        },
    )
    logged_out = client.post("/logout")

    assert changed.status_code == 302 and changed["Location"] == "/password/done"
    assert logged_out.status_code == 302
    assert client.get(f"/app/{acme.app.pk}").status_code == 302
    acme.member.refresh_from_db()
    assert acme.member.check_password("a much longer passphrase 42")
