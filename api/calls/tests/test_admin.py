from __future__ import annotations

import pytest
from django.urls import reverse

from api.calls.models import (
    Conference,
    ConferenceParticipant,
    Connection,
    Participant,
    Session,
    Track,
)
from api.common.tests.admin_pages import (
    admin_page_failures,
    change_url,
    changelist_url,
    record_call,
    unbounded_counts,
)

pytestmark = pytest.mark.django_db

CALLS_MODELS = (Conference, Participant, ConferenceParticipant, Session, Connection, Track)


@pytest.fixture
def recorded(sdk, app, monkeypatch, captured_call):
    record_call(sdk, monkeypatch, captured_call)


def test_every_calls_admin_page_answers(admin_client, recorded):
    # Given a real call stored through the SDK endpoints
    # When every list, filter, search and change page of every calls model is visited
    failures = [f for model in CALLS_MODELS for f in admin_page_failures(admin_client, model)]

    # Then all answer 200
    assert failures == []


def test_a_conference_page_links_to_its_participants_sessions_connections_and_data(
    admin_client, recorded
):
    # Given the recorded conference
    conference = Conference.objects.get()

    # When its page is opened
    page = admin_client.get(change_url(conference)).content.decode()

    # Then it links to each participant, session and connection, to the
    # filtered lists of its events, samples and issues, and shows its info as JSON
    for row in (*conference.participants.all(), *conference.sessions.all()):
        assert change_url(row) in page
    for row in conference.connections.all():
        assert change_url(row) in page
    for path in ("events/genericevent", "events/statssample", "quality/issue"):
        assert f"/admin/{path}/?conference__id__exact={conference.pk}" in page
    assert "<pre" in page


def test_the_filtered_lists_a_conference_links_to_show_its_rows_only(admin_client, recorded):
    # Given the recorded conference and another one of the same app
    conference = Conference.objects.get()
    Conference.objects.create(app=conference.app, conference_id="other")

    # When the list is filtered by the conference, as its page links to it
    response = admin_client.get(changelist_url(Session), {"conference__id__exact": conference.pk})

    # Then only that conference's sessions are listed
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == set(conference.sessions.all())


def test_a_session_page_shows_its_json_pretty_printed_and_read_only(admin_client, recorded):
    # Given a recorded session with its platform and devices
    session = Session.objects.get(participant__participant_id="run1-c1-u1")

    # When its page is opened
    page = admin_client.get(change_url(session)).content.decode()

    # Then the JSON is indented inside <pre>, escaped, with no input to edit it
    assert "&quot;browser&quot;: {\n" in page
    assert "Chrome Headless" in page
    assert 'name="platform"' not in page and "<textarea" not in page


def test_calls_rows_are_viewed_and_deleted_but_never_added_or_edited(admin_client, recorded):
    # Given a recorded connection
    connection = Connection.objects.first()

    # Then adding and editing are refused, viewing and deleting are offered
    assert admin_client.get("/admin/calls/connection/add/").status_code == 403
    assert admin_client.post(change_url(connection), {"state": "failed"}).status_code == 403
    connection.refresh_from_db()
    assert connection.state == "connected"
    delete_url = reverse("admin:calls_connection_delete", args=[connection.pk])
    assert admin_client.get(delete_url).status_code == 200


@pytest.mark.parametrize("model", CALLS_MODELS)
def test_calls_lists_never_count_the_whole_table(admin_client, recorded, model):
    # When the list is opened plain, filtered, searched, and with facet counts asked for
    url = changelist_url(model)
    queries = [
        *unbounded_counts(admin_client, url),
        *unbounded_counts(admin_client, url, q="run1"),
        *unbounded_counts(admin_client, url, _facets="1"),
    ]

    # Then every COUNT it runs stops at a LIMIT
    assert queries == []
