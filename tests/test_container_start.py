"""The container's start script (docker/start), run on the host with the
environment the compose file gives it, against real PostgreSQL and Redis:
the commands the image runs are the ones tested here.

No container engine runs on the machines this is tested on; CI checks the
Dockerfile and the compose file with their linters (.ci/run)."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from conftest import CAPTURED_API_KEY, SDK_PAYLOADS
from tests.server import (
    ROOT,
    Server,
    base_environment,
    call_replay,
    closed_port,
    free_port,
    manage,
    scratch_database,
    strong_secret,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

START = str(ROOT / "docker" / "start")


def start(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [START, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory):
    """What docker-compose.yml sets, pointed at this machine's services."""
    tmp = tmp_path_factory.mktemp("container")
    with scratch_database("container", tmp) as url:
        database = urlsplit(url)
        stream = f"pm:test:container:{secrets.token_hex(4)}"
        env = base_environment(
            DEBUG="false",
            SECRETS_DIR=str(tmp / "data" / "secrets"),
            ALLOWED_HOSTS="localhost,127.0.0.1",
            DATABASE_HOST=database.hostname,
            DATABASE_PORT=str(database.port),
            DATABASE_USER=database.username,
            DATABASE_PASSWORD=database.password or "",
            DATABASE_NAME=database.path.lstrip("/"),
            CONN_MAX_AGE="60",
            REDIS_HOST=settings.CONFIG.redis_url,
            INGEST_SINK="queued",
            INGEST_STREAM=stream,
            # Each stats request waits until its sample is in Redis, so the
            # worker below finds all of them (the spool is tested elsewhere).
            INGEST_SPOOL="false",
            METRICS_TOKEN=strong_secret(),
            DATA_DIR=str(tmp / "data"),
            STATIC_ROOT=str(tmp / "static"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
            GRANIAN_HOST="127.0.0.1",
            GRANIAN_PORT=str(free_port()),
            GRANIAN_WORKERS="1",
            GRANIAN_BLOCKING_THREADS="2",
        )
        try:
            yield env
        finally:
            import redis

            redis.Redis.from_url(settings.CONFIG.redis_url).delete(stream)


@pytest.fixture(scope="module")
def api(compose_env):
    server = Server([START, "api"], compose_env, int(compose_env["GRANIAN_PORT"])).start()
    try:
        yield server
    finally:
        server.stop()


def test_the_image_build_step_collects_hashed_static_files(compose_env, tmp_path):
    env = {**compose_env, "STATIC_ROOT": str(tmp_path / "static")}

    done = start("static", env=env)

    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert manifest["paths"]["admin/css/base.css"].startswith("admin/css/base.")
    assert (tmp_path / "static" / "admin" / "css" / "base.css.gz").exists()


def test_the_api_role_migrates_then_serves_and_is_ready(api):
    answer = api.request("GET", "/ready")

    assert answer.status == 200, answer.body
    assert answer.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}
    assert "Applying" in api.output() or "No migrations to apply" in api.output()
    # granian's own lines are JSON too.
    granian_lines = [
        json.loads(line) for line in api.lines if line.startswith("{") and "_granian" in line
    ]
    assert any("Started worker-1" in line["message"] for line in granian_lines)


def test_the_secrets_are_generated_once_and_shared_by_the_roles(compose_env, api):
    kept = sorted(p.name for p in Path(compose_env["SECRETS_DIR"]).iterdir())

    assert kept == [".init_token_secret", ".secret_key", ".session_token_secret"]


def test_the_worker_role_stores_what_the_api_queued(compose_env, api):
    done = manage("quickstart", "--api-key", CAPTURED_API_KEY, "--username", "ops", env=compose_env)
    assert done.returncode == 0, done.stderr
    call = json.loads((SDK_PAYLOADS / "call-2-participants.json").read_text())
    exchanges = call_replay(api, call, headers={"Host": "localhost"})
    posted = [answer for request, answer in exchanges if request["path"] == "/v1/stats"]
    assert [answer.status for answer in posted] == [200] * 8

    worker = start("worker", "--until-empty", "--consumer", "test-worker", env=compose_env)

    assert worker.returncode == 0, worker.stderr
    assert "8 stored" in worker.stdout, worker.stdout
    metrics = api.request(
        "GET", "/metrics", headers={"Authorization": f"Bearer {compose_env['METRICS_TOKEN']}"}
    ).text
    # The worker's counts, read by the api process from the shared directory.
    assert "pm_stats_samples_stored_total 8.0" in metrics
    assert "pm_ingest_queue_length 0.0" in metrics
    assert 'pm_stats_samples_accepted_total{sink="queued"} 8.0' in metrics


def test_the_scheduler_role_runs_the_periodic_commands(compose_env, api):
    done = start("scheduler", "--once", env=compose_env)

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    finished = {line["message"].split()[2] for line in lines if line["logger"] == "api.scheduler"}
    assert finished == {
        "cleanup_stale_conferences",
        "maintain_partitions",
        "prune_webhooks",
        "rebuild_rollups",
        "enforce_retention",
    }


def test_the_healthcheck_role_passes_while_the_api_answers_and_fails_otherwise(compose_env, api):
    assert start("healthcheck", env=compose_env).returncode == 0

    down = start("healthcheck", env={**compose_env, "GRANIAN_PORT": str(closed_port())})

    assert down.returncode != 0


def test_an_unknown_role_is_refused_with_the_usage(compose_env):
    done = start("serve", env=compose_env)

    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_the_db_worker_role_runs_the_queued_tasks(compose_env):
    assert start("migrate", env=compose_env).returncode == 0
    queued = manage(
        "shell",
        "-c",
        "from api.webhooks.tasks import dispatch; "
        "print(dispatch.enqueue('00000000-0000-0000-0000-000000000000', 'issue.raised', {}, '').id)",
        env=compose_env,
    )
    assert queued.returncode == 0, queued.stderr

    done = start("db_worker", "--batch", env=compose_env)

    assert done.returncode == 0, done.stderr
    answer = manage(
        "shell",
        "-c",
        "from django_tasks_db.models import DBTaskResult; print(DBTaskResult.objects.get().status)",
        env=compose_env,
    )
    assert answer.stdout.split()[-1] == "SUCCESSFUL", answer
