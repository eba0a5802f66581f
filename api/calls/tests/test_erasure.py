"""Erasing a participant (API, admin, ``manage.py erase_participant``)
leaves no row naming them and reports what it removed; per-app retention
deletes calls past it, run by the scheduler."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models

from api.calls.models import Connection, Participant, Session
from api.common.scheduling import scheduled_commands
from api.events.models import GenericEvent, StatsSample
from api.ingest.tests.fake_sdk import next_report, stats_report
from api.query.tests.conftest import ApiClient
from api.tenancy.models import App, Membership, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(page):
    """A call of alice and bob with events, samples and tracks on both
    sides; carol in another call of the app."""
    alice = page("alice").join()
    bob = page("bob").join()
    to_bob = alice.add_connection("bob")
    to_alice = bob.add_connection("alice")
    for sender, link in ((alice, to_bob), (bob, to_alice)):
        report = stats_report()
        assert sender.stats(link, report).status == 200
        assert sender.stats(link, next_report(report)).status == 200
        assert sender.signaling(link, "have-local-offer").status == 200
        assert sender.ontrack(link, f"track-of-{sender.user_id}").status == 200
    sender = page("carol", conference_id="room-2").join()
    sender.browser_event("unload")
    return alice, bob


def _owner(app: App, role: str = "owner") -> ApiClient:
    user = User.objects.create_user(username=f"{role}-{uuid.uuid4().hex[:6]}", password="pw")
    Membership.objects.create(user=user, organization=app.organization, role=role)
    return ApiClient(user)


def _rows_naming(participant_pk, session_pks, connection_pks) -> dict[str, int]:
    """Rows of every model with a foreign key to the participant, one of
    their sessions or one of their connections (or to them as a peer)."""
    targets = {Participant: [participant_pk], Session: session_pks, Connection: connection_pks}
    found = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.related_model in targets:
                ids = targets[field.related_model]
                count = model._default_manager.filter(**{f"{field.name}__in": ids}).count()
                if count:
                    found[f"{model._meta.label}.{field.name}"] = count
    return found


def _alice_ids(alice):
    participant = Participant.objects.get(participant_id="alice")
    sessions = list(Session.objects.filter(participant=participant).values_list("pk", flat=True))
    connections = list(
        Connection.objects.filter(
            models.Q(participant=participant) | models.Q(peer=participant)
        ).values_list("pk", flat=True)
    )
    return participant, sessions, connections


def test_erasing_a_participant_through_the_api_leaves_no_row_naming_them(recorded, app):
    alice, bob = recorded
    participant, sessions, connections = _alice_ids(alice)
    assert _rows_naming(participant.pk, sessions, connections)  # there is something to erase
    samples_before = StatsSample.objects.count()

    answer = _owner(app).delete(f"/v1/participants/{participant.pk}")

    assert answer.status == 200, answer
    removed = answer.data["removed"]
    assert removed["calls.Participant"] == 1
    assert removed["calls.Session"] == 1
    # both connections: alice's to bob and bob's to alice
    assert removed["calls.Connection"] == 2
    assert removed["events.StatsSample"] == samples_before == 4
    assert removed["events.GenericEvent"] >= 4
    assert "calls.Track" in removed
    assert _rows_naming(participant.pk, sessions, connections) == {}
    assert not Participant.objects.filter(participant_id="alice").exists()
    # bob and carol keep their own rows
    assert Session.objects.filter(participant__participant_id="bob").exists()
    assert GenericEvent.objects.filter(participant__participant_id="carol").exists()


def test_a_plain_member_cannot_erase_and_an_outsider_sees_nothing(recorded, app):
    participant, _, _ = _alice_ids(recorded[0])

    member = _owner(app, role="member").delete(f"/v1/participants/{participant.pk}")
    outsider = ApiClient(User.objects.create_user(username="out", password="pw")).delete(
        f"/v1/participants/{participant.pk}"
    )

    assert member.status == 403
    assert outsider.status == 404
    assert Participant.objects.filter(pk=participant.pk).exists()


def test_manage_py_erase_participant_reports_what_it_removed(recorded, app):
    participant, sessions, connections = _alice_ids(recorded[0])
    out = io.StringIO()

    call_command("erase_participant", str(app.pk), "alice", stdout=out)

    text = out.getvalue()
    assert "calls.Participant: 1" in text and "events.StatsSample: 4" in text
    assert "erased:" in text
    assert _rows_naming(participant.pk, sessions, connections) == {}


def test_the_admin_action_erases_the_selected_participants(recorded, admin_client):
    participant, sessions, connections = _alice_ids(recorded[0])

    answer = admin_client.post(
        "/admin/calls/participant/",
        {"action": "erase", "_selected_action": [str(participant.pk)]},
        follow=True,
    )

    assert answer.status_code == 200
    assert b"Erased: " in answer.content and b"calls.Participant 1" in answer.content
    assert _rows_naming(participant.pk, sessions, connections) == {}


def test_retention_deletes_the_calls_past_their_apps_days_and_keeps_the_rest(page, app, clock):
    # given an app that keeps calls 7 days, a call 8 days old and one of today
    App.objects.filter(pk=app.pk).update(retention_days=7)
    old = page("alice", conference_id="old-call").join()
    old.browser_event("unload")
    clock.advance(days=8)
    new = page("bob", conference_id="new-call").join()
    new.browser_event("unload")
    from api.calls.models import Conference

    Conference.objects.filter(conference_id="old-call").update(
        created_at=clock.now - timedelta(days=8)
    )
    out = io.StringIO()

    call_command("enforce_retention", stdout=out)

    assert list(Conference.objects.values_list("conference_id", flat=True)) == ["new-call"]
    assert not GenericEvent.objects.filter(conference__conference_id="old-call").exists()
    assert "calls.Conference: 1" in out.getvalue()
    # and the scheduler runs it
    assert "enforce_retention" in {job.command for job in scheduled_commands()}
