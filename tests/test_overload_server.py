"""Overload control (turned on) on the server as it runs in production
(granian, 16 blocking threads): a burst of stats requests larger than a
process's queue is answered at once, each request with either 200 (then
stored) or the 429 ``quota_exceeded`` body the SDK does not retry; nothing
waits for the SDK's 10 s timeout, and nothing answered 2xx is lost."""

from __future__ import annotations

import copy
import http.client
import json
import threading
import time

import pytest

from conftest import CAPTURED_API_KEY, SDK_PAYLOADS, placeholders_replace
from tests.server import (
    base_environment,
    call_replay,
    free_port,
    granian,
    manage,
    report_later,
    scratch_database,
    strong_secret,
)

BURST = 48


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("overload")
    with scratch_database("overload", tmp) as database_url:
        env = base_environment(
            DEBUG="false",
            SECRET_KEY=strong_secret(),
            INIT_TOKEN_SECRET=strong_secret(),
            SESSION_TOKEN_SECRET=strong_secret(),
            ALLOWED_HOSTS="127.0.0.1",
            DATABASE_URL=database_url,
            DATA_DIR=str(tmp / "data"),
            # One request at a time, two waiting at most, for 200 ms at most:
            # a burst of BURST is far beyond it.
            INGEST_STATS_CONCURRENCY="1",
            INGEST_STATS_QUEUE="2",
            INGEST_STATS_WAIT_MS="200",
        )
        for step in (["migrate", "--noinput"], ["quickstart", "--api-key", CAPTURED_API_KEY]):
            done = manage(*step, env=env)
            assert done.returncode == 0, (step, done.stdout, done.stderr)
        # Threads beyond the slot and the queue: they are what the queue sees.
        process = granian(free_port(), env, threads=16).start()
        try:
            yield process, env
        finally:
            process.stop()


def stored_samples(env: dict[str, str]) -> int:
    done = manage(
        "shell",
        "-c",
        "from api.events.models import StatsSample; print(StatsSample.objects.count())",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_a_burst_beyond_the_queue_is_answered_at_once_and_every_200_is_stored(server):
    process, env = server
    call = json.loads((SDK_PAYLOADS / "call-2-participants.json").read_text())
    # The call up to its last stats request: its connection is still open.
    requests = call["requests"]
    last = max(i for i, r in enumerate(requests) if r["path"] == "/v1/stats")
    mapping: dict[str, str] = {}
    exchanges = call_replay(process, {**call, "requests": requests[: last + 1]}, mapping=mapping)
    assert all(response.status == 200 for _, response in exchanges)
    before = stored_samples(env)
    request = requests[last]
    body = placeholders_replace(copy.deepcopy(request["body"]), mapping)
    bodies = [
        json.dumps({**body, "data": report_later(body["data"], step)}).encode()
        for step in range(1, BURST + 1)
    ]

    # When a burst of distinct samples arrives at once, each on its own
    # connection, as many pages' requests do
    go = threading.Barrier(BURST)
    answers: list[tuple[int, bytes, float, str | None]] = []

    def send(payload: bytes) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=30)
        connection.connect()
        go.wait()
        started = time.monotonic()
        connection.request(
            "POST",
            "/v1/stats",
            body=payload,
            headers={"Content-Type": "text/plain", "Origin": request["origin"]},
        )
        answer = connection.getresponse()
        content = answer.read()
        answers.append(
            (
                answer.status,
                content,
                time.monotonic() - started,
                answer.getheader("Access-Control-Allow-Origin"),
            )
        )
        connection.close()

    threads = [threading.Thread(target=send, args=(payload,)) for payload in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every request is answered, long before the SDK would give up
    assert len(answers) == BURST
    assert max(seconds for _, _, seconds, _ in answers) < 5
    accepted = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] != 200]
    assert accepted and refused
    for status, content, _, origin in refused:
        # The SDK does not retry quota_exceeded and sends its next sample;
        # the page can read the answer.
        assert status == 429
        assert json.loads(content)["error_code"] == "quota_exceeded"
        assert origin == request["origin"]
    # And exactly what was answered 200 is stored
    assert stored_samples(env) - before == len(accepted)
