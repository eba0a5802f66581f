"""Detector state every process shares (Redis): the queued sink's worker
sees what a participant did to its media in the web process, and a
restarted worker carries on with the counters and open issues of the one
before it.

The web process and the worker run in this test process; each gets a
store of its own (``state.use``), as two processes would: with the
in-memory store these tests fail (the first pass's behaviour)."""

from __future__ import annotations

import pytest

from api.ingest.sinks import current_sink
from api.ingest.sinks.queued import QueuedSink
from api.ingest.tests.fake_sdk import queued_sink
from api.ingest.tests.test_replay_captured_calls import replay
from api.ingest.worker import IngestWorker
from api.quality import state as live_state
from api.quality.models import Issue, TrackMetric
from api.quality.state import state_for_process
from api.quality.tests.conftest import StatsScript

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queued(settings, tmp_path):
    with queued_sink(settings, tmp_path) as stream:
        yield stream


class Processes:
    """A web process and a worker process, each with its own state store."""

    def __init__(self) -> None:
        self.web = state_for_process()
        self.worker = state_for_process()
        self.consumer = "worker-1"
        live_state.use(self.web)

    def drain(self) -> IngestWorker:
        sink = current_sink()
        assert isinstance(sink, QueuedSink) and sink.flush(timeout=10)
        live_state.use(self.worker)
        try:
            worker = IngestWorker(consumer=self.consumer, block_ms=10, claim_idle_ms=60_000)
            worker.ensure_group()
            while worker.run_once():
                pass
        finally:
            live_state.use(self.web)
        return worker

    def restart_worker(self) -> None:
        """A new worker process: nothing of the old one's memory."""
        self.worker = state_for_process()


@pytest.fixture
def processes(queued):
    procs = Processes()
    yield procs
    live_state.use(None)


class DrainingSdk:
    """The SDK client; after each stats request the worker catches up."""

    def __init__(self, sdk, processes: Processes):
        self.sdk, self.processes = sdk, processes

    def send(self, method, path, body, **kwargs):
        response = self.sdk.send(method, path, body, **kwargs)
        if path.endswith("/stats"):
            self.processes.drain()
        return response

    def post(self, path, body=None, **kwargs):
        return self.send("POST", path, body, **kwargs)


def test_a_queued_replay_of_the_three_party_call_with_a_camera_stopped_raises_no_dry_track(
    sdk, app, monkeypatch, captured_call, processes
):
    # Given the captured three-participant call (participant 2 stops its
    # camera: PUT /v1/tracks "ended", answered 200 by a web process) through
    # the queued sink, a worker analysing the stats as they come
    call = captured_call("call-3-participants.json")

    replay(DrainingSdk(sdk, processes), monkeypatch, call)

    # Then the worker stored every sample's metrics and knew the camera was
    # stopped on purpose: no dry track, on the sender's side or its peers'
    assert TrackMetric.objects.count() == 24 * 4
    codes = list(Issue.objects.values_list("code", flat=True))
    assert not {"dry_inbound_track", "dry_outbound_track"} & set(codes), codes
    assert codes == []


def test_a_restarted_worker_resolves_the_issues_of_a_lossy_call_when_the_loss_stops(
    live, clock, processes
):
    # Given a call through the queued sink with 8 % loss on the incoming
    # audio and video, whose loss issue the first worker raised
    caller = live.join("alice")
    connection = caller.connect("bob")
    script = StatsScript()
    lossy = {"audio_in": {"pps": 46.0, "lost": 40}, "video_in": {"pps": 138.0, "lost": 120}}
    for _ in range(4):
        clock.advance(10)
        caller.stats(connection, script.sample(**lossy))
        processes.drain()
    opened = Issue.objects.filter(code="high_packet_loss", resolved_at__isnull=True)
    assert opened.count() == 2

    # When the worker restarts mid-call (a new process: nothing in memory)
    # and the loss stops
    processes.restart_worker()
    restarted_at = clock.advance(10)
    caller.stats(connection, script.sample())
    processes.drain()
    for _ in range(2):
        clock.advance(10)
        caller.stats(connection, script.sample())
        processes.drain()

    # Then the new worker resolves the open issues (and their cause)
    assert Issue.objects.filter(resolved_at__isnull=True).count() == 0
    resolved = Issue.objects.filter(code="high_packet_loss")
    assert resolved.count() == 2 and all(i.resolved_at is not None for i in resolved)
    # and computed rates from its first sample on: the previous counters
    # came with the state
    first = TrackMetric.objects.filter(created_at=restarted_at)
    assert first.count() == 4 and all(m.interval_s is not None for m in first)


def test_with_the_direct_sink_two_web_processes_share_one_state_when_asked(live, clock, settings):
    # Given the direct sink told to keep detector state in Redis, and two
    # web processes taking a connection's samples in turn
    settings.PEERMETRICS_QUALITY = {"STATE_STORE": "redis"}
    web = [state_for_process(), state_for_process()]
    caller = live.join("alice")
    connection = caller.connect("bob")
    script = StatsScript()
    lossy = {"audio_in": {"pps": 46.0, "lost": 40}}
    try:
        for tick, changes in enumerate([{}, lossy, lossy, lossy, {}, {}, {}]):
            live_state.use(web[tick % 2])
            clock.advance(10)
            caller.stats(connection, script.sample(**changes))
    finally:
        live_state.use(None)

    # Then every sample after the first has rates (the other process's
    # counters were there), and the loss issue one raised the other resolved
    rows = TrackMetric.objects.filter(kind="audio", direction="inbound").order_by("created_at")
    assert [r.interval_s is not None for r in rows] == [False] + [True] * 6
    [issue] = Issue.objects.filter(code="high_packet_loss")
    assert issue.resolved_at is not None


def test_a_lagging_worker_judges_a_sample_by_the_marks_of_its_own_time(live, clock, processes):
    # Given two participants through the queued sink, u1's camera on
    u0, u1 = live.join("u0"), live.join("u1")
    c0, c1 = u0.connect("u1"), u1.connect("u0")
    s0, s1 = StatsScript(), StatsScript()
    for _ in range(2):
        clock.advance(10)
        u0.stats(c0, s0.sample())
        u1.stats(c1, s1.sample())
    processes.drain()
    u1.event("getUserMedia", {"video": [{"id": "local-video-1", "kind": "video"}], "audio": []})

    # When u1 stops its camera for 20 s and starts it again, all before the
    # worker gets to the samples of those 20 s
    u1.track("PUT", "ended", "local-video-1")
    stopped = {"video_in": {"pps": 0, "bitrate": 0, "fps": 0}}
    for _ in range(2):
        clock.advance(10)
        u0.stats(c0, s0.sample(**stopped))
        u1.stats(c1, s1.sample(video_out={"pps": 0, "bitrate": 0, "fps": 0}))
    clock.advance(1)
    u1.event("getUserMedia", {"video": [{"id": "local-video-2", "kind": "video"}], "audio": []})
    processes.drain()

    # Then the worker judged those samples as the camera was then: stopped
    assert list(Issue.objects.values_list("code", flat=True)) == []
