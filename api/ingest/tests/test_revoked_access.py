"""Tokens already handed out stop working when what they speak for goes:
the app deleted or deactivated, its organization deleted or deactivated,
its recording switched off. Running sessions get the seed's error at their
next request, on every SDK route, with no statement added to the stats
path."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection

from api.events.models import GenericEvent, StatsSample
from api.ingest.tests.fake_sdk import Link, Page, captured_body, next_report, stats_report
from api.query.tests.conftest import ApiClient
from api.tenancy import app_state
from api.tenancy.models import App, Membership, Organization, User

pytestmark = pytest.mark.django_db

INVALID_TOKEN = {"error_code": "invalid_token", "message": "Invalid token."}
NOT_RECORDING = {
    "error_code": "app_not_recording",
    "message": "The requested app is not recording.",
}


@dataclass
class Running:
    alice: Page
    bob: Page
    link: Link
    owner: ApiClient
    app: App


@pytest.fixture
def running(page, app) -> Running:
    """A call in progress (two pages, a connection, a stored sample) and
    the app's owner at the query API."""
    owner = User.objects.create_user(username="owner", password="pw")
    Membership.objects.create(user=owner, organization=app.organization, role="owner")
    alice = page("alice").join()
    bob = page("bob").join()
    link = alice.add_connection("bob")
    assert alice.stats(link).status == 200
    return Running(alice, bob, link, ApiClient(owner), app)


def _every_sdk_route_answers(running: Running, expected: dict) -> None:
    alice, bob, link = running.alice, running.bob, running.link
    answers = {
        "stats": alice.stats(link, next_report(stats_report())),
        "connection event": alice.signaling(link, "have-local-offer"),
        "browser event": alice.browser_event("unload"),
        "getUserMedia": alice.get_user_media(),
        "addConnection": bob.connection_request(
            "addConnection", peerId="alice", connectionState="new", isSfu=False
        ),
        "PUT /sessions": alice.put("/v1/sessions", {"token": alice.token, "appVersion": "2"}),
        "POST /sessions": alice.in_new_client().start_session(),
    }
    for route, answer in answers.items():
        assert answer.json == expected, (route, answer)
        assert 400 <= answer.status < 500, (route, answer)


def _nothing_more_stored(before: tuple[int, int]) -> None:
    assert (StatsSample.objects.count(), GenericEvent.objects.count()) == before


def _counts() -> tuple[int, int]:
    return StatsSample.objects.count(), GenericEvent.objects.count()


def test_a_deleted_app_stops_its_running_sessions_at_their_next_request(running):
    before = _counts()

    assert running.owner.delete(f"/v1/apps/{running.app.pk}").status == 200

    _every_sdk_route_answers(running, INVALID_TOKEN)
    _nothing_more_stored(before)


def test_a_deleted_organization_stops_its_apps_running_sessions(running):
    before = _counts()

    answer = running.owner.delete(f"/v1/organizations/{running.app.organization_id}")
    assert answer.status == 200, answer

    _every_sdk_route_answers(running, INVALID_TOKEN)
    _nothing_more_stored(before)


def test_recording_switched_off_stops_running_sessions_with_app_not_recording(running):
    before = _counts()

    answer = running.owner.put(f"/v1/apps/{running.app.pk}", {"recording": False})
    assert answer.status == 200, answer

    _every_sdk_route_answers(running, NOT_RECORDING)
    _nothing_more_stored(before)


def test_recording_switched_back_on_lets_the_sessions_go_on(running):
    running.owner.put(f"/v1/apps/{running.app.pk}", {"recording": False})
    assert running.alice.stats(running.link, next_report(stats_report())).status == 400

    running.owner.put(f"/v1/apps/{running.app.pk}", {"recording": True})

    assert running.alice.stats(running.link, next_report(stats_report())).status == 200


@pytest.mark.parametrize("model", ["app", "organization"])
def test_deactivating_in_the_admin_stops_running_sessions_too(running, model, admin_client):
    target = running.app if model == "app" else running.app.organization
    # the admin's change form saves the model (its save signal tells the SDK routes)
    page = f"/admin/tenancy/{model}/{target.pk}/change/"
    form = admin_client.get(page).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["is_active"] = ""
    data.update(_inline_management(admin_client.get(page).context))
    answer = admin_client.post(page, data)
    assert answer.status_code == 302, answer.content[:2000]

    answer = running.alice.stats(running.link, next_report(stats_report()))

    assert answer.json == INVALID_TOKEN


def _inline_management(context) -> dict:
    """The management form fields of the change page's inlines, empty."""
    fields = {}
    for formset in context.get("inline_admin_formsets", []):
        prefix = formset.formset.prefix
        fields.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return fields


def test_a_change_made_by_another_process_is_seen_through_the_shared_version(running):
    # given this process knows the app as recording
    assert running.alice.stats(running.link, next_report(stats_report())).status == 200
    # when another process switches recording off: its row change, and its
    # bump of the version in the shared cache (this process's map is not told)
    App.objects.filter(pk=running.app.pk).update(recording=False)
    from django.core.cache import cache

    # (an integer, as a real bump writes: a string there would break the
    # next test's increment on a shared Redis)
    cache.set(app_state.VERSION_KEY, (cache.get(app_state.VERSION_KEY) or 0) + 1000, timeout=None)
    # and this process's next check of the version is due
    app_state._seen.checked_at = 0.0

    answer = running.alice.stats(running.link, next_report(stats_report()))

    assert answer.json == NOT_RECORDING


def test_the_steady_state_stats_path_reads_the_app_state_without_sql(
    running, clock, django_assert_num_queries
):
    # given an app whose state changed (every process forgot it) and was
    # read again by the session's next request
    running.owner.put(f"/v1/apps/{running.app.pk}", {"recording": False})
    running.owner.put(f"/v1/apps/{running.app.pk}", {"recording": True})
    assert running.alice.browser_event("focus").status == 200
    clock.advance(seconds=10)

    # then a sample costs the statements it cost before (api/ingest/tests/test_stats.py)
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        answer = running.alice.stats(running.link, captured_body("/v1/stats", nth=2)["data"])
    assert answer.status == 200


def test_a_new_initialize_of_a_deleted_organizations_app_is_refused(running):
    Organization.objects.filter(pk=running.app.organization_id).update(is_active=False)

    assert running.alice.initialize().json["error_code"] == "invalid_api_key"
