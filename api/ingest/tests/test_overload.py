"""Overload control of /v1/stats (api.ingest.overload): a bounded queue with
a deadline per process, and sampling per connection instead of collapse;
what is not kept is answered at once with a body the SDK does not retry,
and nothing answered 2xx is lost."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import orjson
import pytest

from api.events.models import StatsSample
from api.ingest import overload
from api.ingest.sinks import current_sink
from api.ingest.tests.fake_sdk import next_report, queued_sink, stats_report
from api.ingest.tests.lane import wsgi

pytestmark = pytest.mark.django_db

# The error codes on which the SDK gives up a request instead of retrying it
# (shared/reference/sdk-wire-protocol.md §5).
SDK_NOT_RETRIED = {
    "domain_not_allowed",
    "quota_exceeded",
    "invalid_api_key",
    "app_not_recording",
    "connection_ended",
}


def controller(**overrides) -> overload.Controller:
    options = dict(
        slots=1, queue=4, wait_s=0.5, max_factor=16, backlog_max=100, backlog_max_age_s=3.0
    )
    return overload.Controller(**{**options, **overrides})


def next_window(gate: overload.Controller) -> None:
    gate._roll(gate._window_end)


@pytest.fixture
def gate(settings):
    """This process's controller, with the control turned on."""
    settings.CONFIG = replace(settings.CONFIG, ingest_stats_wait_ms=500)
    gate = overload.controller()
    yield gate
    overload.controller.cache_clear()


@pytest.fixture
def call(page):
    alice = page("alice").join()
    page("bob").join()
    return alice, alice.add_connection("bob")


def post_stats(alice, link, report, **headers):
    body = orjson.dumps({"token": alice.token, "connectionId": link.connection_id, "data": report})
    return wsgi("POST", "/v1/stats", body, **headers)


# ------------------------------------------------------------ the factor


def second(gate: overload.Controller, *, arrived: int, served: int, refused: int) -> None:
    """One second of the process's life, then the window's close."""
    gate._arrived, gate._served, gate._refused = arrived, served, refused
    next_window(gate)


def test_overload_sets_the_factor_to_what_the_slots_served():
    gate = controller()
    # Twice what it could serve arrived: keep one in three (with room).
    second(gate, arrived=2000, served=1000, refused=900)
    assert gate.factor == 3


def test_the_factor_follows_what_the_slots_can_serve_not_what_they_were_given():
    gate = controller()
    second(gate, arrived=2000, served=1000, refused=900)
    # Kept samples are few at N = 3, so the slots serve fewer: N stays.
    second(gate, arrived=2000, served=700, refused=100)
    assert gate.factor == 3
    second(gate, arrived=4000, served=700, refused=900)  # the load doubles
    # 4000 / (0.9 × 810): the capacity of 1000, forgotten by a tenth a second
    assert gate.factor == 6

    second(gate, arrived=2000, served=500, refused=0)  # one calm second
    assert gate.factor == 6
    second(gate, arrived=2000, served=500, refused=0)  # two: one less
    assert gate.factor == 5


def test_a_refusal_now_and_then_is_a_burst_not_overload():
    gate = controller()
    second(gate, arrived=1000, served=1000, refused=5)
    assert gate.factor == 1


def test_the_factor_stops_at_its_maximum():
    gate = controller(max_factor=8)
    second(gate, arrived=100_000, served=10, refused=99_000)
    assert gate.factor == 8


@pytest.mark.parametrize(
    ("length", "age_s", "paced"), [(10, 0.5, False), (100, 0.5, True), (10, 3.0, True)]
)
def test_a_backlog_past_its_bound_paces_the_accepted_requests(length, age_s, paced):
    gate = controller(backlog_max=100, backlog_max_age_s=3.0)
    gate.backlog_seen(length, age_s)
    next_window(gate)
    assert (gate.pace_s > 0) is paced
    assert gate.factor == 1  # the backlog slows accepting down; sampling is the queue's


def test_the_pace_grows_while_the_backlog_stays_over_and_goes_once_it_is_under():
    gate = controller(backlog_max=100)
    gate.backlog_seen(100, 0.0)
    next_window(gate)
    first = gate.pace_s
    next_window(gate)
    assert gate.pace_s == 2 * first

    gate.backlog_seen(10, 0.0)
    for _ in range(3):
        next_window(gate)
    assert gate.pace_s == 0


def test_a_paced_request_holds_its_slot_for_the_pace():
    gate = controller(slots=1)
    gate.pace_s = 0.05
    assert gate.admit()
    started = time.monotonic()
    gate.release()
    assert time.monotonic() - started >= 0.05


def test_with_the_control_off_a_backlog_past_its_bound_still_paces_each_request(call, settings):
    # Given the stock settings (no admission queue, no sampling) and a backlog
    # over its bound
    alice, link = call
    settings.CONFIG = replace(settings.CONFIG, ingest_stats_wait_ms=0)
    overload.controller.cache_clear()
    gate = overload.controller()
    gate.backlog_seen(gate.backlog_max, 0.0)
    next_window(gate)
    gate.pace_s = 0.05  # as after a few seconds over
    try:
        # When a sample arrives, it is stored and answered after the pace
        started = time.monotonic()
        status, _, _ = post_stats(alice, link, stats_report())
        assert status == "200 OK"
        assert time.monotonic() - started >= 0.05
        # Once the backlog is under its bound the pace goes
        gate.backlog_seen(0, 0.0)
        for _ in range(8):
            next_window(gate)
        assert gate.pace_s == 0
    finally:
        overload.controller.cache_clear()
    assert StatsSample.objects.count() == 1


def test_sampling_keeps_two_in_a_row_of_every_two_n_samples_of_each_connection():
    gate = controller()
    gate.factor = 3
    kept = [gate.keep(b"a") for _ in range(13)]
    # Two in a row: the second one's rates cover one interval.
    assert kept == [True, True] + [False] * 4 + [True, True] + [False] * 4 + [True]
    assert gate.keep(b"b")  # another connection's first


# ---------------------------------------------------------- the queue


def test_a_full_queue_answers_at_once():
    gate = controller(slots=1, queue=0)
    assert gate.admit()
    started = time.monotonic()
    assert not gate.admit()
    assert time.monotonic() - started < 0.1
    gate.release()


def test_a_wait_past_the_deadline_is_refused_and_counts():
    gate = controller(slots=1, queue=4, wait_s=0.05)
    assert gate.admit()
    assert not gate.admit()
    gate.release()
    assert gate._refused == 1


def test_a_waiting_request_runs_as_soon_as_a_slot_is_free():
    gate = controller(slots=1, queue=4, wait_s=5)
    assert gate.admit()
    admitted = threading.Event()

    def second():
        if gate.admit():
            admitted.set()
            gate.release()

    thread = threading.Thread(target=second)
    thread.start()
    gate.release()
    assert admitted.wait(timeout=5)
    thread.join()


# ------------------------------------------------------ through the lane


def test_a_sampled_out_sample_is_answered_at_once_with_a_code_the_sdk_does_not_retry(call, gate):
    alice, link = call
    gate.factor = 2
    report = stats_report()
    answers = []
    for _ in range(8):
        answers.append(post_stats(alice, link, report, origin="https://app.example"))
        report = next_report(report)

    statuses = [status[:3] for status, _, _ in answers]
    assert statuses == ["200", "200", "429", "429", "200", "200", "429", "429"]
    _, headers, body = answers[2]
    error = orjson.loads(body)
    assert error["error_code"] in SDK_NOT_RETRIED and error["overloaded"] is True
    # The page must be able to read it, or the browser makes it a network error.
    assert headers["access-control-allow-origin"] == "https://app.example"
    # Every 2xx is stored; nothing else is.
    assert StatsSample.objects.count() == 4


def test_a_sample_that_finds_the_queue_full_is_answered_at_once_and_not_stored(
    call, gate, settings
):
    alice, link = call
    settings.CONFIG = replace(settings.CONFIG, ingest_stats_concurrency=1, ingest_stats_queue=0)
    gate = overload.controller()
    assert gate.admit()  # another request holds the only slot
    try:
        status, _, body = post_stats(alice, link, stats_report())
    finally:
        gate.release()

    assert status == "429 Too Many Requests"
    assert orjson.loads(body)["error_code"] == "quota_exceeded"
    assert StatsSample.objects.count() == 0


def test_without_pressure_every_sample_is_kept(call, gate):
    alice, link = call
    report = stats_report()
    for _ in range(5):
        status, _, _ = post_stats(alice, link, report)
        assert status == "200 OK"
        report = next_report(report)
    assert StatsSample.objects.count() == 5


def test_new_sessions_are_told_a_longer_interval_while_sampling(page, app, gate):
    gate.factor = 4
    answer = page("carol").initialize()
    assert answer.json["getStatsInterval"] == app.interval * 4


@pytest.mark.redis
@pytest.mark.parametrize("spool", [True, False])
def test_the_queued_sink_reads_its_backlog_from_redis_with_every_batch(
    page, gate, settings, tmp_path, spool
):
    with queued_sink(settings, tmp_path, spool=spool):
        settings.CONFIG = replace(settings.CONFIG, ingest_backlog_max=2)
        alice = page("alice").join()
        page("bob").join()
        link = alice.add_connection("bob")
        report = stats_report()
        for _ in range(2):
            assert post_stats(alice, link, report)[0] == "200 OK"
            report = next_report(report)
        assert current_sink().flush(timeout=10)
        gate = overload.controller()
        length, age_s = gate.backlog
        assert length == 2 and 0 <= age_s < 60
        next_window(gate)
        assert gate.pace_s > 0  # two unstored samples: at its bound


# ------------------------------------------------------------ the deadline


def test_a_process_behind_answers_its_late_samples_at_once():
    gate = controller(deadline_ms=1000)
    # A connection's samples on time set its clock's reference.
    assert not gate.late(b"c1", report_ms=5_000.0, now_ms=105_000.0)
    assert not gate.late(b"c1", report_ms=6_000.0, now_ms=106_400.0)  # 0.4 s
    # Late, while the process is not behind: worked on (one client's delay).
    assert not gate.late(b"c1", report_ms=7_000.0, now_ms=110_000.0)  # 3 s
    # When most of a second's samples came late, the process is behind
    for n in range(20):
        gate.late(b"c%d" % n, report_ms=0.0, now_ms=100_000.0)
        gate.late(b"c%d" % n, report_ms=1_000.0, now_ms=104_000.0)
    next_window(gate)
    assert gate.late_mode
    # and its late samples are answered at once; those on time are not.
    assert gate.late(b"c2", report_ms=2_000.0, now_ms=105_000.0)
    assert not gate.late(b"c2", report_ms=3_000.0, now_ms=103_500.0)
    # A second with few late ones ends it.
    next_window(gate)
    assert not gate.late_mode


@pytest.fixture
def behind(settings):
    """This process's controller (the stock settings), behind."""
    gate = overload.controller()
    gate.late_mode = True
    yield gate
    overload.controller.cache_clear()


def _shifted(report: dict, seconds: float) -> dict:
    return next_report(report, seconds=seconds)


def test_a_late_sample_is_answered_at_once_and_a_held_retry_is_not_late(call, behind):
    alice, link = call
    report = stats_report()
    # The connection's reference: a sample 30 s newer than ``report``, now.
    assert post_stats(alice, link, _shifted(report, 30))[0].startswith("200")

    # A sample taken 30 s before it, arriving only now, while behind:
    status, _, body = post_stats(alice, link, report)
    assert status == "429 Too Many Requests"
    error = orjson.loads(body)
    assert error["error_code"] in SDK_NOT_RETRIED and error["overloaded"] is True
    assert StatsSample.objects.count() == 1
    # the SDK's retry of one it held 30 s says so (``delta``) and is stored.
    held = (
        orjson.dumps(
            {"token": alice.token, "connectionId": link.connection_id, "data": _shifted(report, 1)}
        )[:-1]
        + b',"delta":29000}'
    )
    assert wsgi("POST", "/v1/stats", held)[0].startswith("200")
    assert StatsSample.objects.count() == 2
