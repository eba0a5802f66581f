#!/usr/bin/env python3
"""CPU per ``/v1/stats`` request, in-process, without an HTTP server.

Sets up one SDK participant with four connections through the WSGI
application (``api.wsgi.application``, the lean SDK lane included), then
posts N stats samples (the captured SDK 2.7.2 report, counters advanced per
tick) and reports the process CPU per request. With the queued sink it also
runs the worker's batches in-process and reports their CPU per sample, so
the two halves of the queued path are measured apart.

    bench/env.sh values, then:
    .venv/bin/python bench/profile_stats.py --sink direct -n 2000
    .venv/bin/python bench/profile_stats.py --sink queued -n 2000 --profile worker
    .venv/bin/python bench/profile_stats.py --sink queued -n 3400 --connections 200 --warm 400

``--profile request|worker`` prints the cProfile top functions of that half.
The database named by DATABASE_URL is dropped and re-created (PostgreSQL).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import orjson  # noqa: E402
from sdk_traffic import StatsSynth, Templates  # noqa: E402


def _reset_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )


def _backend_cpu() -> float:
    """CPU seconds of this process's PostgreSQL backend (0 on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sink", choices=("direct", "queued"), default="direct")
    parser.add_argument("-n", type=int, default=2000, help="stats requests")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--warm",
        type=int,
        default=None,
        help="requests sent before the measured ones; with the queued sink a worker stores "
        "them first, so that every connection's tracks and state exist (default: "
        "min(50, n/10), stored with the rest). With many --connections this measures the "
        "steady state of a realistic batch: a few samples of each of hundreds of connections.",
    )
    parser.add_argument("--profile", choices=("request", "worker"), default=None)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    args = parser.parse_args()

    os.environ["INGEST_SINK"] = args.sink
    if args.sink == "queued":
        os.environ.setdefault("REDIS_HOST", "redis://127.0.0.1:6379/9")
        os.environ["INGEST_STREAM"] = "pm:profile"
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        _reset_database(url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("maintain_partitions", verbosity=0)
    api_key = "p" * 32
    call_command("quickstart", api_key=api_key, stdout=io.StringIO())

    from api.wsgi import application

    def post(path: str, body: dict | bytes) -> dict | str:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
            "wsgi.url_scheme": "http",
        }
        status = []
        chunks = application(environ, lambda s, h, *a: status.append(s))
        payload = b"".join(chunks)
        if not status[0].startswith("2"):
            raise SystemExit(f"{path}: {status[0]} {payload[:200]!r}")
        return orjson.loads(payload) if payload else ""

    if args.sink == "queued":
        from api.ingest.sinks.queued import redis_client

        redis_client().delete(os.environ["INGEST_STREAM"])

    t = Templates()
    answer = post(
        "/v1/initialize",
        {"conferenceId": "profile", "userId": "u0", "userName": "u0", "apiKey": api_key},
    )
    token = post("/v1/sessions", {**t.session, "token": answer["token"]})["token"]
    connections = []
    for i in range(args.connections):
        ids = post(
            "/v1/connection",
            {"eventName": "addConnection", "peerId": f"peer{i}", "token": token},
        )
        connections.append((ids["peer_id"], ids["connection_id"], StatsSynth(t, interval_s=1)))
    bodies = []
    for k in range(args.n):
        peer_id, connection_id, synth = connections[k % len(connections)]
        bodies.append(synth.body(token=token, peer_id=peer_id, connection_id=connection_id))

    # CPU time, not wall time: waiting for PostgreSQL or Redis is not counted.
    profiler = cProfile.Profile(time.process_time)
    warm = min(50, args.n // 10) if args.warm is None else args.warm
    # The same bodies to the no-op route first: the server stack alone.
    started = time.process_time()
    for body in bodies[warm:]:
        post("/v1/bench/noop", body)
    noop_cpu = (time.process_time() - started) / (len(bodies) - warm)
    print(f"no-op: {noop_cpu * 1e6:.0f} µs CPU per request (same bodies)")
    for body in bodies[:warm]:
        post("/v1/stats", body)
    if args.sink == "queued" and args.warm is not None:
        from api.ingest.sinks import current_sink
        from api.ingest.worker import IngestWorker

        current_sink().flush(timeout=30)
        warming = IngestWorker(consumer="profile", block_ms=10)
        warming.ensure_group()
        while warming.run_once():
            pass
    started, backend = time.process_time(), _backend_cpu()
    if args.profile == "request":
        profiler.enable()
    for body in bodies[warm:]:
        post("/v1/stats", body)
    profiler.disable()
    request_cpu = time.process_time() - started
    request_pg = _backend_cpu() - backend
    measured = len(bodies) - warm
    print(
        f"request: {request_cpu / measured * 1e6:.0f} µs CPU per /v1/stats ({args.sink} sink), "
        f"{noop_cpu / (request_cpu / measured):.2f} of the no-op's rate; "
        f"PostgreSQL {request_pg / measured * 1e6:.0f} µs"
    )

    if args.sink == "queued":
        from api.ingest.sinks import current_sink

        # Every sample in Redis, and the spool's thread stopped: its
        # forwarding would count as the worker's CPU.
        current_sink().close()
        from api.ingest.worker import IngestWorker, worker_process_prepare

        worker = IngestWorker(consumer="profile", block_ms=10)
        worker.ensure_group()
        worker_process_prepare()  # as manage.py ingest_worker does
        started, backend = time.process_time(), _backend_cpu()
        if args.profile == "worker":
            profiler.enable()
        while worker.run_once():
            pass
        profiler.disable()
        worker_cpu = time.process_time() - started
        worker_pg = _backend_cpu() - backend
        print(
            f"worker: {worker_cpu / max(1, worker.stats.received) * 1e6:.0f} µs CPU per sample, "
            f"PostgreSQL {worker_pg / max(1, worker.stats.received) * 1e6:.0f} µs "
            f"({worker.stats.stored} stored in {worker.stats.batches} batches)"
        )
    if args.profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
