"""Faults in the middle of an SDK replay on the queued sink, with a
PostgreSQL and a Redis of the test's own (started here, on ports 18550+,
in a temporary folder; never the shared ones): Redis killed and restarted
empty, Redis killed and restarted from its AOF, PostgreSQL stopped and
started. The web process (granian) and the ingest worker keep running
throughout; nothing is restarted by hand. The SDK's rule is replayed too:
a request not answered 2xx is sent again.

Then every stats sample that was answered 2xx is stored, and stored once.

Runs in CI's PostgreSQL pass (it needs the PostgreSQL server binaries and
redis-server, which that pass has); about a minute.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import CAPTURED_API_KEY, SDK_PAYLOADS, placeholders_replace
from tests.server import Server, base_environment, granian, manage, report_later

pytestmark = pytest.mark.postgres

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PORT, REDIS_PORT, WEB_PORT = 18550, 18551, 18552
EXTRA_SAMPLES = 40  # per scenario, the fault half way through


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Postgres:
    directory: Path

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.directory / "data"),
                    "-l",
                    str(self.directory / "pg.log"),
                    "-o",
                    f"-p {PG_PORT} -k {self.directory} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c max_connections=40",
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "stop"]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def count(self, sql: str, params: tuple = ()) -> int:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=PG_PORT, user="postgres", dbname="faults"
        ) as connection:
            return connection.execute(sql, params).fetchone()[0]


@dataclass
class Redis:
    directory: Path
    aof: bool = False
    process: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.directory), "--save", ""]
        args += (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.aof
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def restart_empty(self) -> None:
        self.kill()
        for leftover in self.directory.glob("*"):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        self.start()


@dataclass
class Stack:
    postgres: Postgres
    redis: Redis
    web: Server
    worker: subprocess.Popen
    log: Path
    answered: list[str] = field(default_factory=list)


def _request(method: str, path: str, body: bytes, headers: dict[str, str]):
    connection = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def sdk_send(method: str, path: str, body: dict, origin: str) -> tuple[int, bytes]:
    """As the SDK does: a request not answered 2xx (or not answered at all)
    is sent again, with a growing pause, for up to a minute."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "text/plain", "Origin": origin}
    pause, deadline = 0.05, time.monotonic() + 60
    while True:
        try:
            status, raw = _request(method, path, data, headers)
        except OSError:
            status, raw = 0, b""
        if 200 <= status < 300 or (400 <= status < 500 and status != 429):
            return status, raw
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {path} never answered: {status} {raw[:200]!r}")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def replay_with_fault(stack: Stack, fault, *, conference: str) -> tuple[list[str], int]:
    """Replay the captured call (under its own conference id); after its
    last captured stats request, send EXTRA_SAMPLES more samples of that
    connection, calling ``fault`` half way. Returns the connection ids and
    the number of stats requests answered 2xx."""
    call = json.loads((SDK_PAYLOADS / "call-2-participants.json").read_text())
    requests = call["requests"]
    last_stats = max(i for i, r in enumerate(requests) if r["path"] == "/v1/stats")
    mapping: dict[str, str] = {}
    connections: set[str] = set()
    accepted = 0
    for index, request in enumerate(requests):
        body = placeholders_replace(copy.deepcopy(request["body"]), mapping)
        if request["path"] == "/v1/initialize":
            body["conferenceId"] = conference
        status, raw = sdk_send(request["method"], request["path"], body, request["origin"])
        answer = request["answer"]["body"]
        if isinstance(answer, dict) and status == 200:
            mine = json.loads(raw)
            if isinstance(answer.get("token"), str):
                mapping[answer["token"]] = mine["token"]
            for key in ("peer_id", "connection_id"):
                if key in answer:
                    mapping[answer[key]] = mine[key]
        if request["path"] == "/v1/stats":
            assert status == 200, raw
            accepted += 1
            connections.add(body["connectionId"])
        if index == last_stats:
            for step in range(1, EXTRA_SAMPLES + 1):
                if step == EXTRA_SAMPLES // 2:
                    fault()
                extra = {**body, "data": report_later(body["data"], step)}
                status, raw = sdk_send("POST", "/v1/stats", extra, request["origin"])
                assert status == 200, raw
                accepted += 1
    return sorted(connections), accepted


def _stored(stack: Stack, connections: list[str]) -> int:
    return stack.postgres.count(
        "SELECT count(*) FROM events_statssample WHERE connection_id = ANY(%s::uuid[])",
        (connections,),
    )


def assert_stored_exactly_once(stack: Stack, connections: list[str], accepted: int) -> None:
    deadline = time.monotonic() + 60
    while _stored(stack, connections) < accepted and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = _stored(stack, connections)
    assert stored == accepted, (stored, accepted, stack.log.read_text()[-3000:])
    distinct = stack.postgres.count(
        "SELECT count(DISTINCT digest) FROM events_statssample "
        "WHERE connection_id = ANY(%s::uuid[])",
        (connections,),
    )
    assert distinct == stored


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not (PG_BIN / "initdb").exists() or shutil.which("redis-server") is None:
        pytest.skip("needs the PostgreSQL 15 server binaries and redis-server")
    root = Path(tempfile.mkdtemp(prefix="pm-faults-", dir="/tmp"))
    os.chmod(root, 0o755)
    pg_dir = root / "pg"
    pg_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(pg_dir, "postgres", "postgres")
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(pg_dir / "data"), "-U", "postgres"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    postgres = Postgres(pg_dir)
    postgres.start()
    redis_dir = root / "redis"
    redis_dir.mkdir()
    redis = Redis(redis_dir)
    worker = None
    web = None
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE faults")
        redis.start()
        env = base_environment(
            DEBUG="true",
            DATA_DIR=str(root / "data"),
            DATABASE_URL=f"postgres://postgres@127.0.0.1:{PG_PORT}/faults",
            REDIS_HOST=f"redis://127.0.0.1:{REDIS_PORT}/0",
            INGEST_SINK="queued",
            CONN_MAX_AGE="0",
            RATE_LIMIT_INITIALIZE="off",
            LOG_LEVEL="WARNING",
        )
        for command in (["migrate", "--no-input"], ["quickstart", "--api-key", CAPTURED_API_KEY]):
            done = manage(*command, env=env)
            assert done.returncode == 0, done.stderr
        log = root / "worker.log"
        with open(log, "w") as out:
            worker = subprocess.Popen(
                [str(Path(os.sys.executable)), "manage.py", "ingest_worker", "--block-ms", "200"],
                cwd=Path(__file__).resolve().parent.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        web = granian(WEB_PORT, env).start()
        yield Stack(postgres, redis, web, worker, log)
    finally:
        if web is not None:
            web.stop()
        if worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(20)
        with contextlib.suppress(Exception):
            redis.kill()
        with contextlib.suppress(Exception):
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def _worker_paused(stack: Stack):
    """Stop the worker for a moment (a slow batch): what the web process
    forwards meanwhile sits in Redis, unread, when Redis goes."""
    os.killpg(stack.worker.pid, signal.SIGSTOP)
    time.sleep(0.3)


def _worker_resumed(stack: Stack) -> None:
    os.killpg(stack.worker.pid, signal.SIGCONT)


def test_redis_killed_and_restarted_empty_loses_no_acknowledged_sample(stack):
    def fault():
        _worker_paused(stack)
        stack.redis.restart_empty()
        _worker_resumed(stack)

    connections, accepted = replay_with_fault(stack, fault, conference="fault-redis-empty")

    assert_stored_exactly_once(stack, connections, accepted)
    assert "created it again" in stack.log.read_text()


def test_redis_killed_and_restarted_from_its_aof_loses_nothing(stack):
    # given Redis with an append-only file
    stack.redis.restart_empty()
    stack.redis.kill()
    stack.redis.aof = True
    stack.redis.start()

    def fault():
        _worker_paused(stack)
        stack.redis.kill()
        stack.redis.start()
        _worker_resumed(stack)

    connections, accepted = replay_with_fault(stack, fault, conference="fault-redis-aof")

    assert_stored_exactly_once(stack, connections, accepted)


def test_postgresql_stopped_and_started_mid_replay_loses_nothing(stack):
    def fault():
        stack.postgres.stop()
        # the web side keeps accepting samples (no SQL in steady state),
        # the worker keeps its batch and retries
        time.sleep(1.0)
        stack.postgres.start()

    connections, accepted = replay_with_fault(stack, fault, conference="fault-postgres")

    assert_stored_exactly_once(stack, connections, accepted)


def test_the_query_api_and_health_answer_503_json_while_postgresql_is_away(stack):
    stack.postgres.stop()
    try:
        for path in ("/health", "/ready", "/v1/conferences"):
            status, raw = _request("GET", path, b"", {"Authorization": "Bearer pm_x"})
            assert status == 503, (path, status, raw[:300])
            assert json.loads(raw)["error_code"] == "service_unavailable"
    finally:
        stack.postgres.start()
    status, _ = _request("GET", "/health", b"", {})
    assert status == 200
