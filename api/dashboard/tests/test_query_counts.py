"""SQL statements of every dashboard page and partial, pinned. Each starts
with three (the session row, the user row, the switcher's apps with their
roles); none may grow with the data it lists (no N+1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.calls.models import Conference, ConferenceParticipant, Participant
from api.common.time import now
from api.quality.models import Issue
from api.rollups.services import rollups_rebuild

BASE = 3

PAGES = {
    # the rollups of the range, the calls going on, the worst calls, their issues, "any calls?"
    "/app/{app}": BASE + 5,
    "/app/{app}?range=7d": BASE + 5,
    # the page of calls with their summaries, their issue badges, their participant counts
    "/app/{app}/calls": BASE + 3,
    "/app/{app}/calls?partial=1": BASE + 3,
    # ... and first the calls of the participants so named
    "/app/{app}/calls?participant=acme-alice": BASE + 4,
    # issues by code and severity, the open ones
    "/app/{app}/issues": BASE + 2,
    "/app/{app}/settings": BASE,
    # the conference, its summary, sessions, connections, issues, timeline events, raw events
    "/conference/{conference}": BASE + 7,
    # the same less the raw events, plus the graphs (conference, connections, metrics, tracks)
    "/conference/{conference}/data": BASE + 10,
    "/conference/{conference}/events": BASE + 2,
    # the participant, their sessions with calls and summaries, their issue counts
    "/participant/{participant}": BASE + 3,
    # the membership, the members
    "/organization/{organization}": BASE + 2,
    "/account/tokens": BASE + 1,
    # the remembered app
    "/": BASE + 1,
}


def _more_calls(tenant, count: int) -> None:
    for n in range(count):
        conference = Conference.objects.create(
            app=tenant.app,
            conference_id=f"more-{n}",
            start_time=now() - timedelta(minutes=n + 5),
            end_time=now() - timedelta(minutes=n),
            duration=300,
        )
        for who in ("a", "b"):
            participant = Participant.objects.create(app=tenant.app, participant_id=f"{n}-{who}")
            ConferenceParticipant.objects.create(conference=conference, participant=participant)
        Issue.objects.create(
            app=tenant.app,
            conference=conference,
            code="high_rtt",
            subject=f"conference:{conference.pk}",
            type="warning",
            created_at=now() - timedelta(minutes=n + 2),
            resolved_at=now() - timedelta(minutes=n + 1),
        )
    rollups_rebuild(app_id=tenant.app.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("more", [0, 30])
@pytest.mark.parametrize(("url", "expected"), list(PAGES.items()))
def test_each_page_costs_a_fixed_number_of_statements(
    acme, logged_in, django_assert_num_queries, url, expected, more
):
    _more_calls(acme, more)
    client = logged_in(acme.member)
    client.get(f"/app/{acme.app.pk}")  # the app is remembered: looking around writes nothing
    path = url.format(
        app=acme.app.pk,
        conference=acme.conference.pk,
        participant=acme.participants[0].pk,
        organization=acme.organization.pk,
    )

    with django_assert_num_queries(expected):
        answer = client.get(path)

    assert answer.status_code in (200, 302)
