"""SQL statements per request of the hot dashboard reads, pinned: the
number must not grow with the page size or the data (no N+1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from api.calls.models import Conference, ConferenceParticipant, Participant, Session
from api.common.time import now
from api.quality.models import Issue
from api.query.tests.factories import event_make, sample_make, stats_report

# A session cookie costs two statements (the session row, the user row).
AUTH = 2


@pytest.fixture
def browser(acme) -> Client:
    client = Client()
    client.force_login(acme.member)
    return client


@pytest.fixture
def busy_app(acme):
    """Forty more conferences, each with two participants, sessions and an
    issue."""
    for n in range(40):
        conference = Conference.objects.create(app=acme.app, conference_id=f"room-{n}")
        for who in ("a", "b"):
            participant = Participant.objects.create(app=acme.app, participant_id=f"{n}-{who}")
            ConferenceParticipant.objects.create(conference=conference, participant=participant)
            session = Session.objects.create(
                app=acme.app, conference=conference, participant=participant, created_at=now()
            )
        Issue.objects.create(
            app=acme.app,
            conference=conference,
            session=session,
            type=Issue.Type.WARNING,
            code="tcp_used",
            subject=f"c{n}",
            created_at=now(),
        )
    return acme


@pytest.fixture
def busy_conference(acme):
    """Fifty more events and fifty more stats samples in acme's conference."""
    start = acme.sessions[0].created_at
    for n in range(50):
        event_make(
            acme.sessions[0], type="custom", category="browser", at=start + timedelta(seconds=n)
        )
        sample_make(
            acme.connections[0],
            at=start + timedelta(seconds=n, milliseconds=500),
            report=stats_report(bytes_sent=10_000 + n),
        )
    return acme


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["5", "200"])
def test_a_page_of_conferences_takes_five_statements_whatever_its_size(
    busy_app, browser, django_assert_num_queries, limit
):
    # auth, appId is visible, COUNT, the page with its flags and counts
    with django_assert_num_queries(AUTH + 3):
        response = browser.get("/v1/conferences", {"appId": str(busy_app.app.pk), "limit": limit})

    assert response.status_code == 200
    assert len(response.json()["results"]) == min(int(limit), 41)


@pytest.mark.django_db
def test_the_whole_conference_list_is_one_statement(busy_app, browser, django_assert_num_queries):
    with django_assert_num_queries(AUTH + 1):
        response = browser.get("/v1/conferences")

    assert len(response.json()["data"]) == 41


@pytest.mark.django_db
@pytest.mark.parametrize(("limit", "offset"), [("5", "0"), ("200", "0"), ("10", "45")])
def test_a_page_of_conference_events_takes_a_fixed_number_of_statements(
    busy_conference, browser, django_assert_num_queries, limit, offset
):
    # auth, the conference, two COUNTs, the UNION ALL of page keys, then the
    # events and the samples of the page by primary key
    with django_assert_num_queries(AUTH + 6):
        response = browser.get(
            f"/v1/conferences/{busy_conference.conference.pk}/events",
            {"limit": limit, "offset": offset},
        )

    body = response.json()
    assert body["count"] == 112
    assert len(body["results"]) == min(int(limit), 112 - int(offset))
    assert {e["category"] for e in body["results"]} >= {"stats"}


@pytest.mark.django_db
def test_a_keyset_page_of_events_reads_each_table_once(
    busy_conference, browser, django_assert_num_queries
):
    with django_assert_num_queries(AUTH + 3):
        response = browser.get(f"/v1/conferences/{busy_conference.conference.pk}/events")

    assert len(response.json()["results"]) == 100
    assert response.json()["next"]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["5", "200"])
def test_a_page_of_sessions_loads_their_issue_ids_in_one_statement(
    busy_app, browser, django_assert_num_queries, limit
):
    # auth, COUNT, the page, the issue ids of the page
    with django_assert_num_queries(AUTH + 3):
        response = browser.get("/v1/sessions", {"limit": limit})

    assert response.status_code == 200
    assert response.json()["count"] == 82


@pytest.mark.django_db
def test_the_app_list_loads_usage_in_one_statement(acme, browser, django_assert_num_queries):
    from api.tenancy.models import App

    for n in range(10):
        App.objects.create(organization=acme.organization, name=f"app {n}")

    # auth, the apps, their usage days
    with django_assert_num_queries(AUTH + 2):
        response = browser.get("/v1/apps")

    assert len(response.json()["data"]) == 11


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", [10, 600])
def test_the_graphs_of_a_conference_take_a_fixed_number_of_statements(
    acme, browser, django_assert_num_queries, seconds
):
    # Given per-track metrics of both connections, one row a second, for a
    # short call or a long one
    from api.calls.models import Track
    from api.quality.models import TrackMetric

    start = acme.sessions[0].created_at
    rows = []
    for connection in acme.connections:
        track = Track.objects.create(
            session=connection.session, connection=connection, kind="audio", track_id="mic"
        )
        rows += [
            TrackMetric(
                connection=connection,
                track=track,
                created_at=start + timedelta(seconds=s),
                kind="audio",
                direction="inbound",
                interval_s=1.0,
                bitrate=32_000.0,
                mos=4.2,
            )
            for s in range(seconds)
        ]
    TrackMetric.objects.bulk_create(rows)
    conference = acme.conference
    window = {"start": start.isoformat(), "end": (start + timedelta(seconds=seconds)).isoformat()}

    # auth, the conference (scope), then the graph: the conference, its
    # connections, the bucketed metrics, the tracks
    with django_assert_num_queries(AUTH + 5):
        response = browser.get(f"/v1/conferences/{conference.pk}/graphs", window)

    assert response.status_code == 200
    series = response.json()["data"]["series"]
    assert len(series) == len(acme.connections)
    assert all(len(s["data"]) == min(seconds, 300) for s in series)


@pytest.mark.django_db
def test_the_conference_detail_with_its_verdict_takes_a_fixed_number_of_statements(
    busy_app, browser, django_assert_num_queries
):
    # auth, the conference, its participant ids, its issue ids, then the
    # verdict: the primary issues, the symptoms' kinds, the names
    with django_assert_num_queries(AUTH + 6):
        response = browser.get(f"/v1/conferences/{busy_app.conference.pk}")

    assert response.status_code == 200
    assert response.json()["data"]["verdict"]["level"] in {"good", "fair", "poor"}
