"""``POST /v1/stats``: one stored sample per getStats() report, two SQL
statements in steady state, retries stored once, and the connection type."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection

from api.calls.models import Track
from api.events.models import StatsSample
from api.ingest.tests.fake_sdk import Page, captured_body, next_report, stats_report
from api.quality.models import TrackMetric
from api.tenancy.models import App


def error(code: str, message: str | None = None) -> dict:
    from api.common.errors import CATALOGUE

    return {"error_code": code, "message": message or CATALOGUE[code].message}


CONNECTION_NOT_FOUND = error("connection_not_found")
CONNECTION_ENDED = error("connection_ended")


@pytest.fixture
def call(page):
    alice = page("alice").join()
    bob = page("bob").join()
    return alice, bob, alice.add_connection("bob")


@pytest.mark.django_db
def test_a_sample_is_stored_once_with_its_raw_report(call, clock):
    alice, _, link = call
    report = stats_report()

    response = alice.stats(link, report)

    assert (response.status, response.raw) == (200, b'""')
    sample = StatsSample.objects.with_owner().get()
    session = alice.session
    assert sample.data == report
    assert (sample.session_id, sample.conference_id, sample.participant_id, sample.app_id) == (
        session.pk,
        session.conference_id,
        session.participant_id,
        session.app_id,
    )
    assert (str(sample.connection_id), str(sample.peer_id)) == (link.connection_id, link.peer_id)
    assert sample.created_at == clock.now


@pytest.mark.django_db
def test_the_route_also_answers_without_the_v1_prefix(call):
    alice, _, link = call
    body = {"token": alice.token, "connectionId": link.connection_id, "data": stats_report()}

    assert alice.post("/stats", body).status == 200
    assert StatsSample.objects.count() == 1


@pytest.mark.django_db
def test_delta_back_dates_the_sample(call, clock):
    alice, _, link = call

    alice.stats(link, delta=2500)

    assert StatsSample.objects.get().created_at == clock.now - timedelta(milliseconds=2500)


@pytest.mark.django_db
def test_a_retried_sample_is_stored_once(call, clock):
    # Given a sample the server stored, whose answer the SDK never got
    alice, _, link = call
    assert alice.stats(link).status == 200

    # When the SDK retries it 1 s and then 3 s later, with a larger delta
    clock.advance(seconds=1)
    first_retry = alice.stats(link, delta=1000)
    clock.advance(seconds=2)
    second_retry = alice.stats(link, delta=3000)

    # Then both retries succeed and there is still one sample, at its time
    assert first_retry.status == second_retry.status == 200
    sample = StatsSample.objects.get()
    assert sample.created_at == clock.now - timedelta(seconds=3)


@pytest.mark.django_db
def test_the_next_sample_of_a_connection_is_a_new_row(call):
    alice, _, link = call
    report = stats_report()

    alice.stats(link, report)
    alice.stats(link, next_report(report))

    assert StatsSample.objects.count() == 2


@pytest.mark.django_db
def test_a_steady_state_sample_costs_two_sql_statements_on_postgresql_three_on_sqlite(
    call, clock, django_assert_num_queries
):
    # Given a connection whose tracks and type the first sample recorded
    # (the first two samples alice's browser sent in the captured call, ten
    # seconds apart: counters grow, so no issue opens or closes)
    alice, _, link = call
    assert alice.stats(link, captured_body("/v1/stats", nth=0)["data"]).status == 200
    clock.advance(seconds=10)

    # When the next sample arrives, it costs: SELECT the connection, then
    # INSERT the sample and its per-track metrics, in one statement on
    # PostgreSQL and two on SQLite. (The original ran 51-69.)
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        response = alice.stats(link, captured_body("/v1/stats", nth=2)["data"])

    assert response.status == 200
    assert StatsSample.objects.count() == 2
    assert TrackMetric.objects.count() == 2 * 4  # both samples' four streams


@pytest.mark.django_db
def test_a_retry_costs_no_more_than_a_sample(call, django_assert_num_queries):
    alice, _, link = call
    alice.stats(link)
    metrics = TrackMetric.objects.count()

    with django_assert_num_queries(2):
        assert alice.stats(link, delta=1000).status == 200

    # Stored and analysed once.
    assert StatsSample.objects.count() == 1
    assert TrackMetric.objects.count() == metrics


@pytest.mark.django_db
def test_stats_for_an_ended_connection_are_refused_so_the_sdk_stops(call):
    alice, _, link = call
    alice.connection_event(link, "onconnectionstatechange", "closed")

    response = alice.stats(link)

    assert (response.status, response.json) == (400, CONNECTION_ENDED)
    assert not StatsSample.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("connection_id", [str(uuid.uuid4()), "nope", 7, {"id": 1}, ""])
def test_stats_for_an_unknown_connection_are_connection_not_found(call, connection_id):
    alice, _, link = call

    response = alice.post(
        "/v1/stats", {"token": alice.token, "connectionId": connection_id, "data": stats_report()}
    )

    assert (response.status, response.json) == (400, CONNECTION_NOT_FOUND)
    assert not StatsSample.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"connectionId": None}])
def test_stats_without_a_connection_id_are_missing_parameters(call, body):
    alice, _, _ = call

    response = alice.post("/v1/stats", {"token": alice.token, "data": stats_report(), **body})

    assert (response.status, response.json) == (
        400,
        error("missing_parameters", "'connectionId' is required."),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("data", [None, "report", [stats_report()], 1])
def test_stats_whose_data_is_not_an_object_are_invalid_parameters(call, data):
    alice, _, link = call

    response = alice.stats(link, data)

    assert (response.status, response.json) == (
        400,
        error("invalid_parameters", "'data' must be an object."),
    )


@pytest.mark.django_db
def test_a_session_cannot_post_stats_for_another_sessions_connection(call):
    # Given bob's connection in the same conference
    alice, bob, _ = call
    bob_link = bob.add_connection("alice")

    # When alice posts a sample for it with her token
    response = alice.stats(bob_link)

    assert (response.status, response.json) == (400, CONNECTION_NOT_FOUND)
    assert not StatsSample.objects.exists()


@pytest.mark.django_db
def test_a_session_cannot_post_stats_for_another_tenants_connection(call, organization, sdk):
    alice, _, _ = call
    other = App.objects.create(organization=organization, name="Other", api_key="d" * 32)
    eve = Page(sdk, "eve", api_key=other.api_key).join()
    Page(sdk, "frank", api_key=other.api_key).join()
    eve_link = eve.add_connection("frank")

    response = alice.stats(eve_link)

    assert (response.status, response.json) == (400, CONNECTION_NOT_FOUND)


# ------------------------------------------------------- connection type


@pytest.mark.django_db
def test_the_connection_type_is_the_local_candidate_type_of_the_selected_pair(call):
    alice, _, link = call
    report = stats_report()

    alice.stats(link, report)
    assert link.connection.type == "host"

    alice.stats(link, next_report(report, candidate_type="relay"))
    assert link.connection.type == "relay"


@pytest.mark.django_db
def test_an_early_sample_without_a_candidate_pair_leaves_the_type_unknown(call):
    alice, _, link = call

    alice.stats(link, stats_report(candidate_pair=False))

    assert link.connection.type is None


@pytest.mark.django_db
def test_a_sample_without_a_candidate_pair_does_not_reset_the_type(call):
    # The original reset it to null on such samples (reference §9.1 #14).
    alice, _, link = call
    report = stats_report()
    alice.stats(link, report)

    alice.stats(link, next_report(stats_report(candidate_pair=False)))

    assert link.connection.type == "host"


@pytest.mark.django_db
@pytest.mark.parametrize("candidate_type", ["bogus", None, 5, "", "HOST"])
def test_an_unknown_candidate_type_changes_nothing(call, candidate_type):
    alice, _, link = call
    report = stats_report()
    alice.stats(link, report)

    response = alice.stats(link, next_report(report, candidate_type=candidate_type))

    assert response.status == 200
    assert link.connection.type == "host"


# ----------------------------------------------------------------- tracks


@pytest.mark.django_db
def test_tracks_named_by_the_reports_are_created_once(call):
    alice, _, link = call
    report = stats_report()

    alice.stats(link, report)
    alice.stats(link, next_report(report))

    tracks = Track.objects.filter(connection_id=link.connection_id)
    assert sorted((t.direction, t.kind, t.track_id) for t in tracks) == sorted(
        [
            ("inbound", "audio", report["audio"]["inbound"][0]["trackIdentifier"]),
            ("inbound", "video", report["video"]["inbound"][0]["trackIdentifier"]),
            ("outbound", "audio", report["audio"]["outbound"][0]["track"]["trackIdentifier"]),
            ("outbound", "video", report["video"]["outbound"][0]["track"]["trackIdentifier"]),
        ]
    )
    assert all(t.session == alice.session for t in tracks)


@pytest.mark.django_db
def test_a_received_track_announced_by_ontrack_is_not_duplicated_by_stats(call):
    alice, _, link = call
    report = stats_report()
    received = report["audio"]["inbound"][0]["trackIdentifier"]
    alice.ontrack(link, received, "audio")

    alice.stats(link, report)

    assert Track.objects.filter(track_id=received).count() == 1


@pytest.mark.django_db
def test_a_sample_whose_analysis_fails_is_still_stored(call, monkeypatch, caplog):
    from api.quality import metrics

    def broken(**kwargs):
        raise RuntimeError("a report the analysis cannot read")

    monkeypatch.setattr(metrics, "sample_extract", broken)
    alice, _, link = call

    assert alice.stats(link).status == 200

    assert StatsSample.objects.count() == 1
    assert not TrackMetric.objects.exists()
    assert "quality analysis failed" in caplog.text


@pytest.mark.django_db
def test_a_database_outage_is_a_503_the_sdk_retries_not_a_500(call, monkeypatch, caplog):
    from django.db import OperationalError

    from api.ingest.sinks import direct

    def away(connection_id):
        raise OperationalError("connection refused")

    alice, _, link = call
    monkeypatch.setattr(direct, "connection_state_read", away)

    response = alice.stats(link)

    assert response.status == 503
    assert response.json["error_code"] == "service_unavailable"
    assert "database unavailable on POST /v1/stats: OperationalError" in caplog.text
    assert alice.token not in caplog.text
