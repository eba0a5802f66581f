"""What the stats path counts (api.common.metrics) and the state read at
scrape time (api.ingest.gauges), and the log context of an SDK request."""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import replace

import pytest
from prometheus_client import REGISTRY

from api.common.logs import RequestContextFilter, json_formatter
from api.ingest import gauges
from api.ingest.tests.fake_sdk import next_report, stats_report
from api.quality.models import Issue


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def call(page):
    alice = page("alice").join()
    page("bob").join()
    return alice, alice.add_connection("bob")


@pytest.mark.django_db
def test_stats_accepted_and_stored_move_their_counters_and_a_retry_counts_as_duplicate(call):
    alice, link = call
    accepted = _value("pm_stats_samples_accepted_total", sink="direct")
    stored = _value("pm_stats_samples_stored_total")
    duplicates = _value("pm_stats_samples_duplicate_total")
    answered = _value("pm_http_requests_total", route="v1/stats", method="POST", status="200")
    timed = _value("pm_http_request_duration_seconds_count", route="v1/stats")
    report = stats_report()

    assert alice.stats(link, report).status == 200
    assert alice.stats(link, next_report(report)).status == 200
    assert alice.stats(link, report, delta=5000).status == 200  # the SDK's retry of the first

    assert _value("pm_stats_samples_accepted_total", sink="direct") - accepted == 3
    assert _value("pm_stats_samples_stored_total") - stored == 2
    assert _value("pm_stats_samples_duplicate_total") - duplicates == 1
    assert (
        _value("pm_http_requests_total", route="v1/stats", method="POST", status="200") - answered
        == 3
    )
    assert _value("pm_http_request_duration_seconds_count", route="v1/stats") - timed == 3


@pytest.mark.django_db
def test_refused_stats_are_counted_by_error_code(call):
    alice, link = call
    invalid = _value("pm_stats_samples_refused_total", error_code="invalid_token")
    missing = _value("pm_stats_samples_refused_total", error_code="missing_parameters")

    assert alice.stats(link, token="not-a-token").status == 401
    assert alice.stats(link, connectionId=None).status == 400

    assert _value("pm_stats_samples_refused_total", error_code="invalid_token") - invalid == 1
    assert _value("pm_stats_samples_refused_total", error_code="missing_parameters") - missing == 1


@pytest.mark.django_db
def test_scraping_reads_the_live_calls_and_the_issues_open_by_code(call, app):
    alice, link = call
    alice.stats(link, stats_report())
    Issue.objects.create(
        app=app,
        conference=alice.session.conference,
        code="high_rtt",
        type="warning",
        subject="connection:x",
        created_at=alice.session.created_at,
    )

    families = {family.name: family for family in gauges.calls_state()}

    assert families["pm_conferences_live"].samples[0].value == 1
    assert families["pm_participants_live"].samples[0].value == 2
    assert [(s.labels, s.value) for s in families["pm_issues_open"].samples] == [
        ({"code": "high_rtt"}, 1)
    ]


def test_without_the_queued_sink_there_is_no_queue_to_report(settings):
    settings.CONFIG = replace(settings.CONFIG, ingest_sink="direct")

    assert list(gauges.queue_state()) == []


@pytest.fixture
def json_lines():
    """Every record written meanwhile, formatted as production writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


@pytest.mark.django_db
def test_a_refused_stats_request_logs_a_json_line_with_its_request_id_app_and_route(
    call, app, json_lines
):
    alice, link = call
    assert alice.remove_connection(link, "bob").status == 200
    answer = alice.stats(link, stats_report())
    assert answer.json["error_code"] == "connection_ended"

    (line,) = [r for r in json_lines() if r["logger"] == "django.request"]

    assert line["request_id"] == answer.headers["X-Request-ID"]
    assert line["app_id"] == str(app.pk)
    assert line["route"] == "v1/stats"
    assert line["status_code"] == 400
    assert alice.token not in json.dumps(line)


@pytest.mark.redis
def test_scraping_reads_the_queue_length_its_oldest_sample_and_this_nodes_spool(settings, tmp_path):
    from api.ingest.sinks.queued import redis_client
    from api.ingest.worker import CONSUMER_GROUP

    stream = f"pm:test:{uuid.uuid4().hex}"
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.spool").write_bytes(b"x" * 1000)
    (spool / "notes.txt").write_bytes(b"not a spool file")
    settings.CONFIG = replace(
        settings.CONFIG,
        ingest_sink="queued",
        ingest_stream=stream,
        ingest_spool=True,
        ingest_spool_dir=spool,
    )
    redis = redis_client()
    now_ms = int(redis.time()[0]) * 1000
    redis.xadd(stream, {"m": b"old"}, id=f"{now_ms - 30_000}-0")
    redis.xadd(stream, {"m": b"new"})
    redis.xgroup_create(stream, CONSUMER_GROUP, id="0")
    redis.xreadgroup(CONSUMER_GROUP, "w", {stream: ">"}, count=1)
    try:
        families = {family.name: family.samples[0].value for family in gauges.queue_state()}
    finally:
        redis.delete(stream)

    assert families["pm_ingest_queue_length"] == 2
    assert 29 <= families["pm_ingest_queue_age_seconds"] < 120
    assert families["pm_ingest_queue_pending"] == 1
    assert families["pm_ingest_spool_bytes"] == 1000
