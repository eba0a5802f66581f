"""The open-loop generator (bench/open_loop.py) follows the SDK's rules:
a failed sample is sent again after 1 s with ``delta``, a shed one
(``quota_exceeded``) is not, a request gets 10 s (here shortened) whether
it is on the wire or still waiting for one of the browser's connections.

Against a scripted HTTP server on a free loopback port, in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from open_loop import Deadlines, Pool, StatsTally  # noqa: E402

SAMPLE = orjson.dumps({"data": {"connection": {}}, "peerId": "p", "connectionId": "c"})
NO_ANSWER = None


class ScriptedServer:
    """Answers the n-th request with the n-th scripted answer (NO_ANSWER:
    keeps the connection open and says nothing) and keeps the bodies."""

    def __init__(self, answers: list[tuple[int, bytes] | None]):
        self.answers = answers
        self.bodies: list[dict] = []
        self.handlers: list[tuple[asyncio.Task, asyncio.StreamWriter]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append((task, writer))
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await self._answer(reader, writer)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            self.bodies.append(json.loads(await reader.readexactly(length)))
            answer = self.answers[len(self.bodies) - 1]
            if answer is NO_ANSWER:
                await reader.read()  # until the client gives up and closes
                return
            status, body = answer
            writer.write(
                b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (status, len(body), body)
            )

    async def run(self, samples: int, *, connections: int = 6, timeout: float = 10.0):
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        tally = StatsTally("127.0.0.1", port, "/v1/stats", loop.time())
        deadlines = Deadlines(timeout)
        pool = Pool("127.0.0.1", port, deadlines, connections)
        for _ in range(samples):
            tally.post(pool, SAMPLE)
        await asyncio.wait_for(tally.settled.wait(), timeout=5)
        pool.close()
        deadlines.stop()
        server.close()
        # Connections still open end, and their handlers with them.
        for _, writer in self.handlers:
            writer.close()
        await asyncio.gather(*(task for task, _ in self.handlers))
        return tally


def test_a_failed_sample_is_sent_again_after_a_second_with_its_delta():
    server = ScriptedServer([(500, b'{"error_code": "internal_error"}'), (200, b'""')])

    tally = asyncio.run(server.run(1))

    assert tally.first == {"500 internal_error": 1}
    assert tally.final == {"2xx": 1}
    assert tally.retries == 1
    first, retry = server.bodies
    assert "delta" not in first
    assert retry.pop("delta") >= 1000
    assert retry == first


def test_a_shed_sample_is_counted_apart_and_not_sent_again():
    server = ScriptedServer([(429, b'{"error_code": "quota_exceeded", "message": "m"}')])

    tally = asyncio.run(server.run(1))

    assert tally.first == {"shed": 1}
    assert tally.final == {"shed": 1}
    assert tally.retries == 0
    assert tally.error_bodies_without_code == 0
    assert len(tally.error_ms) == 1


def test_a_request_times_out_on_the_wire_or_waiting_for_a_browser_connection():
    # One connection: the second sample waits behind the first, unanswered,
    # and both time out; their retries are answered.
    server = ScriptedServer([NO_ANSWER, (200, b'""'), (200, b'""')])

    tally = asyncio.run(server.run(2, connections=1, timeout=0.2))

    assert tally.first == {"timeout": 1, "timeout waiting for a browser connection": 1}
    assert tally.final == {"2xx": 2}
    assert len(server.bodies) == 3
