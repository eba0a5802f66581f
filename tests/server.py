"""Helpers for tests that run the server as it runs in production: a real
process (granian, or the container's start script) on a free port of this
machine, spoken to over HTTP."""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from conftest import placeholders_replace

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Long enough for a busy two-core machine to import Django and answer.
STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    return free_port()


def strong_secret() -> str:
    return secrets.token_urlsafe(48)


def base_environment(**overrides: str) -> dict[str, str]:
    """The test process's environment without the settings it was given
    (DATABASE_URL, REDIS_HOST, …), so a server only gets what a test sets;
    the venv's bin first on PATH, as in the image."""
    keep = {"HOME", "LANG", "LC_ALL", "TMPDIR", "USER"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass
class Server:
    """A server process; its stderr is kept line by line (``lines``)."""

    command: list[str]
    env: dict[str, str]
    port: int
    workers: int = 1
    process: subprocess.Popen | None = None
    lines: list[str] = field(default_factory=list)
    _listening: threading.Event = field(default_factory=threading.Event)
    _exited: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Server:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group: stopping it stops granian's workers
            # too, even if the main process is gone before them.
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        # granian says "Started worker-N" a moment before that worker
        # listens: wait for the words, then for the port to take connections.
        deadline = time.monotonic() + STARTUP_SECONDS
        self._listening.wait(STARTUP_SECONDS)
        while not self._exited.is_set() and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                self._exited.wait(0.05)
        self.stop()
        raise AssertionError("server did not start:\n" + "".join(self.lines[-40:]))

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        started = 0
        for line in self.process.stdout:
            self.lines.append(line)
            if "Started worker-" in line:
                started += 1
                if started == self.workers:
                    self._listening.set()
        self._exited.set()
        self._listening.set()  # a process that died will not listen: stop waiting

    def stop(self) -> str:
        """Stop (SIGTERM to its process group) and return everything it wrote."""
        if self.process is not None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(10)
        self._exited.wait(10)
        return "".join(self.lines)

    def _signal(self, number: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def output(self) -> str:
        return "".join(self.lines)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return Response(answer.status, answer.headers, answer.read())
        finally:
            connection.close()


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def granian(port: int, env: dict[str, str], *, workers: int = 1, threads: int = 2) -> Server:
    """granian as the documented commands run it (two blocking threads per
    worker, unless ``threads``)."""
    return Server(
        [
            str(VENV_BIN / "granian"),
            "--interface",
            "wsgi",
            "api.wsgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
        ],
        env,
        port,
        workers,
    )


def call_replay(
    server: Server,
    call: dict,
    *,
    headers: dict[str, str] | None = None,
    mapping: dict[str, str] | None = None,
) -> list[tuple[dict, Response]]:
    """Send every request of a captured SDK call, as the SDK sent it (its
    api key included: the server needs an app with it), with the tokens and
    ids this server answers in place of the recorded ones (kept in
    ``mapping``, recorded → this server's, when one is given)."""
    mapping = {} if mapping is None else mapping
    exchanges = []
    for request in call["requests"]:
        body = placeholders_replace(copy.deepcopy(request["body"]), mapping)
        response = server.request(
            request["method"],
            request["path"],
            body=json.dumps(body).encode(),
            headers={
                **(headers or {}),
                "Content-Type": request["contentType"],
                "Origin": request["origin"],
            },
        )
        answer = request["answer"]["body"]
        if isinstance(answer, dict) and response.status == 200:
            mine = response.json()
            if isinstance(answer.get("token"), str):
                mapping[answer["token"]] = mine["token"]
            for key in ("peer_id", "connection_id"):
                if key in answer:
                    mapping[answer[key]] = mine[key]
        exchanges.append((request, response))
    return exchanges


def report_later(data: dict, step: int) -> dict:
    """The report ``step`` intervals later (a new sample, not a retry)."""
    data = copy.deepcopy(data)

    def bump(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "timestamp" and isinstance(item, int | float):
                    value[key] = item + 10_000 * step
                else:
                    bump(item)
        elif isinstance(value, list):
            for item in value:
                bump(item)

    bump(data)
    return data


@contextlib.contextmanager
def scratch_database(name: str, tmp: Path) -> Iterator[str]:
    """A database URL of its own for a server process: a new PostgreSQL
    database beside the test database when the suite runs on PostgreSQL
    (dropped afterwards), else an SQLite file in ``tmp``."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        yield f"sqlite:///{tmp / 'server.sqlite3'}"
        return
    import psycopg

    params = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or None,
        "dbname": "postgres",
    }
    database = f"{db['NAME']}_{name}"
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    password = f":{params['password']}" if params["password"] else ""
    try:
        yield f"postgres://{params['user']}{password}@{params['host']}:{params['port']}/{database}"
    finally:
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
