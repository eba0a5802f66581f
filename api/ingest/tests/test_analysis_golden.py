"""Recorded calls through both sinks, compared with what the server stored
for them when this test was written (``fixtures/analysis-golden.json``):
every metric row, every issue and every stored report. The hot path is
tuned for speed; this proves each tuning changed nothing it produces.

The queued path is drained in one go after the call, so a whole call goes
through the worker's batches; the direct path analyses each request as it
comes. Both must give the same rows and issues.

When a change of behaviour is intended, the test writes what it got next
to the temporary directory it names, to review and copy over the fixture.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from api.calls.models import Conference, Connection, Participant, Session, Track
from api.events.models import StatsSample
from api.ingest.sinks import current_sink
from api.ingest.sinks.queued import QueuedSink
from api.ingest.tests.fake_sdk import queued_sink
from api.ingest.tests.test_replay_captured_calls import replay
from api.ingest.worker import IngestWorker
from api.quality.analysis import METRIC_COLUMNS
from api.quality.models import Issue, TrackMetric
from api.quality.tests.conftest import START, LiveCall
from api.tenancy.app_state import app_states_changed
from api.tenancy.models import App

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "analysis-golden.json"
DUMPS = Path(__file__).resolve().parents[2] / "quality" / "tests" / "fixtures"
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


@pytest.fixture(params=["direct", "queued"])
def sink(request, settings, tmp_path):
    if request.param == "direct":
        yield "direct"
        return
    if not settings.CONFIG.redis_url:
        pytest.skip("needs Redis: set REDIS_HOST")
    with queued_sink(settings, tmp_path):
        yield "queued"


def _drain(sink: str) -> None:
    if sink != "queued":
        return
    queued = current_sink()
    assert isinstance(queued, QueuedSink) and queued.flush(timeout=10)
    worker = IngestWorker(consumer="golden", block_ms=10)
    worker.ensure_group()
    while worker.run_once():
        pass


def _labels() -> dict[str, str]:
    """Server ids → names that do not change between runs."""
    labels: dict[str, str] = {}
    for p in Participant.objects.all():
        labels[str(p.pk)] = p.participant_id
    for conference in Conference.objects.all():
        labels[str(conference.pk)] = conference.conference_id
    for session in Session.objects.select_related("participant").order_by("created_at"):
        labels.setdefault(str(session.pk), f"session:{session.participant.participant_id}")
    connections = Connection.objects.select_related("participant", "peer")
    for c in connections:
        labels[str(c.pk)] = f"{c.participant.participant_id}>{c.peer.participant_id}"
    for t in Track.objects.all():
        owner = labels.get(str(t.connection_id), "session")
        labels[str(t.pk)] = f"{owner}/{t.direction}/{t.kind}/{t.track_id}"
    return labels


def _relabelled(value, labels: dict[str, str]):
    """``value`` as JSON with every id replaced by its label."""

    def label(match: re.Match) -> str:
        text = match.group(0)
        if "-" not in text:
            text = str(uuid.UUID(text))
        return labels.get(text, match.group(0))

    return json.loads(_UUID.sub(label, orjson.dumps(value, default=str).decode()))


def _order(value) -> str:
    return json.dumps(value, sort_keys=True)


def _single(value):
    """Floats as the REAL columns of PostgreSQL keep them (SQLite keeps
    doubles): rounded to the nearest single-precision float on both."""
    if isinstance(value, float):
        return struct.unpack("f", struct.pack("f", value))[0]
    if isinstance(value, list):
        return [_single(item) for item in value]
    return value


def _unordered(value):
    """Evidence lists of dicts in a fixed order (the detectors list the
    pairs of a cause in the order of their random ids)."""
    if isinstance(value, dict):
        return {key: _unordered(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_unordered(item) for item in value]
        if all(isinstance(item, dict) for item in items):
            items.sort(key=_order)
        return items
    return value


def _snapshot() -> dict:
    labels = _labels()
    rows = TrackMetric.objects.values_list(*METRIC_COLUMNS)
    metrics = sorted((_single(_relabelled(list(row), labels)) for row in rows), key=_order)
    found = Issue.objects.values_list(
        "connection_id",
        "code",
        "type",
        "subject",
        "peak_value",
        "created_at",
        "resolved_at",
        "data",
    )
    issues = sorted((_unordered(_relabelled(list(row), labels)) for row in found), key=_order)
    samples = sorted(
        [
            labels[str(s.connection_id)],
            s.created_at.isoformat(),
            hashlib.sha256(orjson.dumps(s.data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16],
        ]
        for s in StatsSample.objects.all()
    )
    return {"metrics": metrics, "issues": issues, "samples": samples}


def _expected(name: str, got: dict, tmp_path: Path) -> dict:
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if golden.get(name) != got:
        (tmp_path / f"{name}.json").write_text(json.dumps(got, indent=1))
    return golden.get(name, {})


def _privacy(app: App, mode: str) -> None:
    App.objects.filter(pk=app.pk).update(address_privacy=mode)
    app_states_changed()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("call_name", "privacy"),
    [("call-2-participants.json", "hash"), ("call-3-participants.json", "truncate")],
)
def test_a_captured_call_is_analysed_and_stored_as_it_always_was(
    sdk, app, monkeypatch, captured_call, sink, call_name, privacy, tmp_path
):
    # Given a real call, its app scrubbing addresses
    _privacy(app, privacy)

    # When it is replayed through the sink (and the worker drains the queue)
    replay(sdk, monkeypatch, captured_call(call_name))
    _drain(sink)

    # Then every metric row, issue and stored report is what it was
    got = _snapshot()
    assert got == _expected(f"{sink}:{call_name}", got, tmp_path), tmp_path


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scenario", ["loss10", "delay150"])
def test_an_impaired_call_raises_the_same_issues_through_either_sink(
    sdk, app, monkeypatch, sink, scenario, settings, tmp_path
):
    # Given the real call with loss or delay (1 s samples), low MOS held 10 s
    app.interval = 1000
    app.save()
    settings.PEERMETRICS_QUALITY = {
        "low_emos": {"min_seconds": 10},
        "very_low_emos": {"min_seconds": 10},
    }
    clock = {"now": START}
    monkeypatch.setattr("api.common.time.now", lambda: clock["now"])
    call = LiveCall(sdk, lambda: clock["now"])
    dump = json.loads((DUMPS / f"dump-{scenario}.json").read_text())
    peers = {}
    for index, pc in enumerate(dump["connections"]):
        peer = call.join(f"u{index}")
        peers[pc] = (peer, peer.connect(f"u{1 - index}"))

    # When every sample of the 30 s is sent, and the queue drained
    for tick in range(30):
        clock["now"] = START + timedelta(seconds=tick)
        for pc, samples in dump["connections"].items():
            peer, connection = peers[pc]
            peer.stats(connection, samples[tick])
    _drain(sink)

    # Then the rows and issues are what they were
    got = _snapshot()
    assert got["issues"], "the impaired call raised no issue"
    assert got == _expected(f"{sink}:dump-{scenario}", got, tmp_path), tmp_path
