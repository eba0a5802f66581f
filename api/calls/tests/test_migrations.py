"""Migrations of the call model that change existing rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from api.calls.models import Track
from api.events.models import GenericEvent
from api.quality.models import Issue, TrackMetric

BEFORE = [("calls", "0002_initial")]
AFTER = [("calls", "0004_track_natural_keys")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture(autouse=True)
def _latest_schema_after():
    # Going back to BEFORE also unapplies the migrations of other apps that
    # depend on later calls migrations (rollups); AFTER alone would leave
    # them out for the tests that run next.
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_duplicate_tracks_are_merged_into_the_oldest_before_the_natural_keys_become_unique(page):
    # Given a call, and the tables as they were before the natural keys
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    connection_row = link.connection
    migrate(BEFORE)
    # ... where a race left two rows for one received track and two for
    # one local track, each with something pointing at it
    first = Track.objects.create(
        session_id=connection_row.session_id,
        connection=connection_row,
        direction="inbound",
        track_id="remote-1",
        kind=None,
        track_info={"muted": True},
    )
    second = Track.objects.create(
        session_id=connection_row.session_id,
        connection=connection_row,
        direction="inbound",
        track_id="remote-1",
        kind="audio",
        label="Microphone",
        track_info={"muted": False, "ended": False},
    )
    local = [
        Track.objects.create(
            session_id=connection_row.session_id, direction="outbound", track_id="cam", kind="video"
        )
        for _ in range(2)
    ]
    event = GenericEvent.objects.create(
        app_id=connection_row.app_id,
        conference_id=connection_row.conference_id,
        participant_id=connection_row.participant_id,
        session_id=connection_row.session_id,
        connection=connection_row,
        track_id=second.pk,
        type="mute",
        category="track",
        data={},
        fingerprint="f",
        created_at=connection_row.start_time,
    )
    issue = Issue.objects.create(
        app_id=connection_row.app_id,
        conference_id=connection_row.conference_id,
        track_id=second.pk,
        type="warning",
        code="high_packet_loss",
        subject="track:dup",
        created_at=connection_row.start_time,
    )
    metric = TrackMetric.objects.create(
        connection=connection_row,
        track_id=local[1].pk,
        created_at=connection_row.start_time,
        kind="video",
        direction="outbound",
    )

    # When the migrations run
    migrate(AFTER)

    # Then one row is left per track, the oldest, knowing what the others knew
    kept = Track.objects.get(connection=connection_row, track_id="remote-1")
    assert kept.pk == first.pk
    assert (kept.kind, kept.label, kept.track_info) == (
        "audio",
        "Microphone",
        {"muted": True, "ended": False},
    )
    assert list(Track.objects.filter(track_id="cam").values_list("pk", flat=True)) == [local[0].pk]
    # and what pointed at a duplicate points at it
    assert GenericEvent.objects.get(pk=event.pk).track_id == first.pk
    assert Issue.objects.get(pk=issue.pk).track_id == first.pk
    assert TrackMetric.objects.get(pk=metric.pk).track_id == local[0].pk
