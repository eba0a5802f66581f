"""The queued sink: the request runs no SQL, Redis recognises ended
connections, and the worker stores each accepted sample exactly once (a
retried request, or a redelivery after a crash between its commit and its
acknowledgement, stores nothing). Each behaviour holds with the spool (the
default) and without it (``INGEST_SPOOL=off``)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from django.db import DatabaseError, OperationalError
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from api.calls.models import Connection, Track
from api.events.models import StatsSample
from api.events.writer import rows_insert as real_rows_insert
from api.ingest import worker as worker_module
from api.ingest.sinks import current_sink
from api.ingest.sinks.codec import message_decode
from api.ingest.sinks.queued import QueuedSink, redis_client
from api.ingest.tests.fake_sdk import next_report, queued_sink, stats_report
from api.ingest.worker import IngestWorker, batch_store
from api.quality import services as quality_services
from api.quality.models import Issue, TrackMetric
from api.quality.tests.conftest import Clock, LiveCall
from bench.sdk_traffic import EVERYONE, MeshSynth, Templates, mesh_losses

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture(params=["spool", "no-spool"])
def queued(request, settings, tmp_path):
    with queued_sink(settings, tmp_path, spool=request.param == "spool") as stream:
        yield stream


def in_redis(stream: str) -> int:
    """Samples in the stream once this process's spool has forwarded all."""
    sink = current_sink()
    assert isinstance(sink, QueuedSink) and sink.flush(timeout=10)
    return redis_client().xlen(stream)


@pytest.fixture
def call(page, queued):
    alice = page("alice").join()
    page("bob").join()
    return alice, alice.add_connection("bob")


def drain(consumer: str = "test") -> IngestWorker:
    sink = current_sink()
    assert isinstance(sink, QueuedSink) and sink.flush(timeout=10)
    worker = IngestWorker(consumer=consumer, block_ms=10, claim_idle_ms=60_000)
    worker.ensure_group()
    while worker.run_once():
        pass
    return worker


def test_a_queued_sample_costs_no_sql_in_steady_state(call, queued, django_assert_num_queries):
    alice, link = call
    report = stats_report()
    assert alice.stats(link, report).status == 200  # reads the connection once

    with django_assert_num_queries(0):
        response = alice.stats(link, next_report(report))

    assert response.status == 200 and response.json == ""
    assert in_redis(queued) == 2
    assert StatsSample.objects.count() == 0


def test_the_worker_stores_each_queued_sample_once(call, queued):
    alice, link = call
    report = stats_report()
    alice.stats(link, report)
    alice.stats(link, next_report(report))

    worker = drain()

    assert StatsSample.objects.filter(connection_id=link.connection_id).count() == 2
    assert worker.stats.stored == 2
    # Acknowledged and removed: nothing is left to redeliver.
    assert redis_client().xlen(queued) == 0
    # The post-storage work ran in the worker: the type came from the sample,
    # and the per-track metrics of both samples were stored (in one INSERT).
    assert Connection.objects.get(pk=link.connection_id).type == "host"
    rtp_reports = sum(
        len(report[kind][d]) for kind in ("audio", "video") for d in ("inbound", "outbound")
    )
    assert TrackMetric.objects.filter(connection_id=link.connection_id).count() == 2 * rtp_reports


def test_a_retried_sample_is_stored_and_analysed_once(call, queued):
    alice, link = call
    report = stats_report()

    assert alice.stats(link, report).status == 200
    assert alice.stats(link, report, delta=2000).status == 200

    worker = drain()
    assert (worker.stats.received, worker.stats.stored, worker.stats.duplicates) == (2, 1, 1)
    assert StatsSample.objects.count() == 1
    rtp_reports = sum(
        len(report[kind][d]) for kind in ("audio", "video") for d in ("inbound", "outbound")
    )
    assert TrackMetric.objects.count() == rtp_reports


def test_a_retry_after_its_original_was_stored_stores_nothing(call, queued):
    alice, link = call
    report = stats_report()
    assert alice.stats(link, report).status == 200
    drain()

    assert alice.stats(link, report, delta=2000).status == 200
    worker = drain()

    assert (worker.stats.stored, worker.stats.duplicates) == (0, 1)
    assert StatsSample.objects.count() == 1


def test_the_accept_script_is_sent_again_after_redis_forgot_it(call, queued):
    alice, link = call
    report = stats_report()
    assert alice.stats(link, report).status == 200
    assert in_redis(queued) == 1
    redis_client().script_flush()

    assert alice.stats(link, next_report(report)).status == 200

    assert in_redis(queued) == 2


def test_an_ended_connection_is_refused_at_once_even_from_the_cache(
    call, queued, django_capture_on_commit_callbacks
):
    alice, link = call
    report = stats_report()
    assert alice.stats(link, report).status == 200  # the state is now cached

    with django_capture_on_commit_callbacks(execute=True):
        alice.remove_connection(link, "bob")
    response = alice.stats(link, next_report(report))

    assert response.status == 400
    assert response.json["error_code"] == "connection_ended"


def test_a_worker_killed_after_its_commit_stores_nothing_twice(call, queued):
    alice, link = call
    report = stats_report()
    for _ in range(3):
        assert alice.stats(link, report).status == 200
        report = next_report(report)
    # Given a worker that read the batch and committed it, but died before
    # acknowledging (its messages stay pending under its name)
    from api.ingest.sinks.codec import message_decode
    from api.ingest.worker import batch_store

    client = redis_client()
    assert current_sink().flush(timeout=10)
    IngestWorker(consumer="crashed").ensure_group()
    reply = client.xreadgroup("ingest", "crashed", {queued: ">"}, count=10)
    messages = reply[0][1]
    batch_store([message_decode(fields[b"m"]) for _, fields in messages])
    assert StatsSample.objects.count() == 3

    # When the same consumer starts again, it re-reads and re-stores them
    worker = drain(consumer="crashed")

    # Then they are acknowledged and none is stored twice
    assert worker.stats.received == 3 and worker.stats.stored == 0
    assert StatsSample.objects.count() == 3
    assert client.xlen(queued) == 0


def test_a_sample_of_a_deleted_connection_is_dropped_without_blocking_the_others(
    page, call, queued
):
    alice, link = call
    carol = page("carol").join()
    other = carol.add_connection("dave")
    report = stats_report()
    assert alice.stats(link, report).status == 200
    assert carol.stats(other, report).status == 200
    Connection.objects.filter(pk=other.connection_id).delete()

    worker = drain()

    assert worker.stats.stored == 1 and worker.stats.dropped == 1
    assert StatsSample.objects.filter(connection_id=link.connection_id).count() == 1
    assert redis_client().xlen(queued) == 0


def test_a_batch_large_enough_to_be_copied_is_stored_whole(call, queued):
    from api.events.writer import COPY_FROM_ROWS

    alice, link = call
    report = stats_report()
    for _ in range(COPY_FROM_ROWS + 8):
        assert alice.stats(link, report).status == 200
        report = next_report(report)
    assert alice.stats(link, stats_report()).status == 200  # a retry of the first

    worker = drain()

    count = COPY_FROM_ROWS + 8
    assert (worker.stats.stored, worker.stats.duplicates) == (count, 1)
    assert StatsSample.objects.count() == count
    rtp_reports = sum(
        len(report[kind][d]) for kind in ("audio", "video") for d in ("inbound", "outbound")
    )
    assert TrackMetric.objects.count() == count * rtp_reports


@pytest.mark.parametrize("keep", [True, False])
def test_one_script_call_accepts_several_samples_and_reports_the_ended(queued, keep):
    client = redis_client()
    live, ended = uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()
    client.set(b"pm:ended:" + ended, b"1", ex=60)
    try:
        results = QueuedSink().send(
            [(live, b"first"), (ended, b"late"), (live, b"second")], keep=keep
        )
    finally:
        client.delete(b"pm:ended:" + ended)

    assert results == [1, -1, 1]
    queued_messages = [fields[b"m"] for _, fields in client.xrange(queued)]
    # The spool forwards samples already answered 2xx: a late one is kept.
    assert queued_messages == ([b"first", b"late", b"second"] if keep else [b"first", b"second"])


def test_a_connection_ended_in_another_process_is_refused_here_too(call, queued, settings):
    alice, link = call
    report = stats_report()
    assert alice.stats(link, report).status == 200  # the state is now cached here
    # Another process ended the connection: only Redis knows.
    redis_client().set(b"pm:ended:" + link.connection_id.replace("-", "").encode(), b"1", ex=60)

    first = alice.stats(link, next_report(report))
    if settings.CONFIG.ingest_spool:
        # Answered before Redis was asked, so kept; Redis's answer reaches
        # this process's cache when the spool forwards it.
        assert first.status == 200
        assert in_redis(queued) == 2
        first = alice.stats(link, next_report(next_report(report)))
    assert first.status == 400
    assert first.json["error_code"] == "connection_ended"


def test_spool_forward_sends_what_stopped_processes_left(queued, settings, tmp_path):
    import io

    from django.core.management import call_command

    from api.ingest.spool import record

    directory = tmp_path / "left"
    directory.mkdir()
    live = uuid.uuid4().hex.encode()
    (directory / "web-1-0a-00000001.spool").write_bytes(
        record(live, b"first") + record(live, b"second")
    )
    out = io.StringIO()

    call_command("spool_forward", dir=directory, stdout=out)

    assert "forwarded 2 samples" in out.getvalue()
    assert [fields[b"m"] for _, fields in redis_client().xrange(queued)] == [b"first", b"second"]
    assert list(directory.iterdir()) == []


def test_the_worker_refuses_a_nice_value_the_system_would_not_take():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="0 to 19"):
        call_command("ingest_worker", nice=20)


def test_the_worker_rides_out_redis_being_away(call, queued):
    alice, link = call
    assert alice.stats(link, stats_report()).status == 200
    assert current_sink().flush(timeout=10)
    # Nothing listens on port 1: every command fails to connect.
    away = IngestWorker(consumer="test", block_ms=10, redis_url="redis://127.0.0.1:1/0")

    assert away.run_once(should_stop=lambda: True) == 0
    assert away.stats.redis_errors == 1
    assert away.backlog() is None

    assert drain().stats.stored == 1


def test_redis_losing_its_data_loses_no_accepted_sample(call, queued, caplog, settings):
    if not settings.CONFIG.ingest_spool:
        pytest.skip("without the spool a sample lives in Redis only: that needs AOF")
    # given samples accepted and forwarded, and a worker that read none yet
    alice, link = call
    report = stats_report()
    assert alice.stats(link, report).status == 200
    assert in_redis(queued) == 1
    worker = IngestWorker(consumer="test", block_ms=10, claim_idle_ms=60_000)
    worker.ensure_group()
    # when Redis comes back without its data (the stream, its group and the
    # epoch marker are gone, as after a restart without persistence)
    redis_client().delete(queued, f"{queued}:epoch")
    # and the page goes on sending
    second = next_report(report)
    assert alice.stats(link, second).status == 200
    current_sink().flush(timeout=10)

    # then the worker finds its group gone, creates it again and goes on
    while worker.run_once():
        pass
    assert worker.stats.groups_recreated >= 1
    while worker.run_once():
        pass

    # and every accepted sample is stored, each once
    assert StatsSample.objects.filter(connection_id=link.connection_id).count() == 2
    assert "consumer group" in caplog.text
    sink = current_sink()
    assert isinstance(sink, QueuedSink) and sink.spool.resent == 1


def test_revoked_recording_stops_queued_stats_without_sql(call, queued, django_assert_num_queries):
    from api.tenancy.services import app_update

    alice, link = call
    assert alice.stats(link, stats_report()).status == 200
    app_update(app=alice.session.app, recording=False)

    answer = alice.stats(link, next_report(stats_report()))

    assert answer.status == 400
    assert answer.json["error_code"] == "app_not_recording"


def test_a_web_node_that_cannot_reach_redis_answers_503_not_2xx(call, queued, settings):
    # given the sink without its spool, and Redis gone (nothing listens there)
    if settings.CONFIG.ingest_spool:
        pytest.skip("the spool accepts while it can keep: its limit is test_spool's")
    alice, link = call
    assert alice.stats(link, stats_report()).status == 200
    reachable = settings.CONFIG
    settings.CONFIG = replace(reachable, redis_host="redis://127.0.0.1:1/0")
    try:
        answer = alice.stats(link, next_report(stats_report()))
    finally:
        settings.CONFIG = reachable  # the fixture's clean-up speaks to the real Redis

    # then the sample is refused (the SDK sends it again), not acknowledged and lost
    assert answer.status == 503
    assert answer.json["error_code"] == "service_unavailable"


def test_the_worker_stores_queued_reports_with_their_addresses_scrubbed(call, queued, app):
    from api.tenancy.app_state import app_states_changed
    from api.tenancy.models import App

    App.objects.filter(pk=app.pk).update(address_privacy="truncate")
    app_states_changed()
    alice, link = call
    report = stats_report()
    report["connection"]["local"]["address"] = "198.51.100.99"

    assert alice.stats(link, report).status == 200
    drain()

    local = StatsSample.objects.get().data["connection"]["local"]
    assert local["address"] == "198.51.100.0"
    assert "usernameFragment" not in local


def test_a_batch_retried_after_a_database_error_stores_what_its_first_attempt_wrote(
    call, queued, monkeypatch
):
    # Given a batch whose first attempt creates its connection's tracks and
    # then fails (the database went away before the commit)
    alice, link = call
    alice.stats(link, stats_report())
    sink = current_sink()
    assert isinstance(sink, QueuedSink) and sink.flush(timeout=10)
    reader = IngestWorker(consumer="test", block_ms=10)
    reader.ensure_group()
    samples = [message_decode(fields[b"m"]) for _, fields in reader._next_batch()]
    failures = [OperationalError("the server closed the connection")]

    def rows_insert_once_away(**kwargs):
        if failures:
            raise failures.pop()
        return real_rows_insert(**kwargs)

    monkeypatch.setattr(worker_module, "rows_insert", rows_insert_once_away)
    with pytest.raises(DatabaseError):
        batch_store(samples)
    assert not Track.objects.exists()  # rolled back with the batch

    # When the batch is stored on the retry
    assert batch_store(samples) == (1, 0)

    # Then its metric rows name tracks that exist (the first attempt's track
    # ids went with its transaction)
    stored_tracks = set(Track.objects.values_list("pk", flat=True))
    named = set(TrackMetric.objects.values_list("track_id", flat=True))
    assert named and named <= stored_tracks
    # and the connection type it saw is written (the first attempt's UPDATE
    # went with it too)
    assert Connection.objects.get(pk=link.connection_id).type == "host"


@pytest.mark.parametrize(
    ("handled", "pause"), [(0, 0.0), (1, 0.1), (249, 0.1), (250, 0.0), (500, 0.0)]
)
def test_the_worker_lingers_only_after_a_small_batch(handled, pause):
    # A small batch: the load is light, wait for the next to fill; a large
    # one is a backlog to work off, an empty read has already waited.
    assert IngestWorker(consumer="test", batch_size=500).linger_after(handled, 0.1) == pause


def test_a_batch_makes_the_tracks_of_its_new_connections_in_one_insert(page, queued):
    # Given samples of three connections the worker has seen no track of
    alice = page("alice").join()
    links = []
    for peer in ("bob", "carol", "dave"):
        page(peer).join()
        links.append(alice.add_connection(peer))
    for link in links:
        assert alice.stats(link, stats_report()).status == 200
    # and a track of the first made bare by a state event (no kind yet)
    bare = Track.objects.create(
        session_id=links[0].connection.session_id,
        connection_id=links[0].connection_id,
        direction="inbound",
        track_id=stats_report()["audio"]["inbound"][0]["trackIdentifier"],
    )

    # When one batch stores them
    with CaptureQueriesContext(db_connection) as queries:
        worker = drain()

    # Then every track was made by one INSERT, and none looked up alone
    table = Track._meta.db_table
    sql = [q["sql"] for q in queries.captured_queries]
    assert worker.stats.batches == 1 and worker.stats.stored == 3
    assert sum(s.startswith(f'INSERT INTO "{table}"') for s in sql) == 1
    assert sum(f'FROM "{table}"' in s for s in sql) == 1
    # and each connection's metric rows name its own tracks, the bare one
    # included (now with its kind)
    for link in links:
        tracks = set(
            Track.objects.filter(connection_id=link.connection_id).values_list("pk", flat=True)
        )
        named = set(
            TrackMetric.objects.filter(connection_id=link.connection_id).values_list(
                "track_id", flat=True
            )
        )
        assert named and named == tracks
    bare.refresh_from_db()
    assert bare.kind == "audio"


def test_a_batch_diagnoses_each_conference_once(sdk, app, queued, monkeypatch):
    # Given a three-party call whose every path loses 6 % from the second
    # sample on, queued whole (each of its connections raises symptoms)
    clock = Clock()
    monkeypatch.setattr("api.common.time.now", clock)
    people = ["alice", "bob", "carol"]
    live = LiveCall(sdk, clock)
    peers = {name: live.join(name) for name in people}
    links = {(me, o): peers[me].connect(o) for me in people for o in people if me != o}
    mesh = MeshSynth(Templates(), people)
    losses = mesh_losses(people, where=EVERYONE, loss=0.06)
    for tick in range(6):
        clock.advance(10)
        for (me, other), report in mesh.tick(losses if tick >= 1 else {}).items():
            assert peers[me].stats(links[(me, other)], report).status == 200
    diagnosed = []
    real = quality_services.conference_diagnose

    def counted(**kwargs):
        diagnosed.append(kwargs["conference_id"])
        return real(**kwargs)

    monkeypatch.setattr(quality_services, "conference_diagnose", counted)

    # When one batch stores it
    worker = drain()

    # Then the conference was diagnosed once, at the end, with what the
    # direct sink finds sample by sample: one cause, every path
    assert worker.stats.batches == 1
    assert len(diagnosed) == 1
    causes = Issue.objects.filter(cause__isnull=True, code__in=["path_loss", "uplink_loss"])
    assert [c.code for c in causes] == ["path_loss"]
    symptoms = Issue.objects.filter(code="high_packet_loss")
    assert symptoms.count() >= 6 and all(s.cause_id == causes[0].pk for s in symptoms)
