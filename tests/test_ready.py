"""/ready tells a load balancer whether to send traffic: a server process
whose database or Redis is unreachable, or whose migrations are not all
applied, answers 503 with the error body; so does /health while the database is down."""

from __future__ import annotations

import pytest

from tests.server import base_environment, closed_port, free_port, granian, manage


def _env(tmp_path, **overrides: str) -> dict[str, str]:
    return base_environment(DEBUG="true", DATA_DIR=str(tmp_path / "data"), **overrides)


@pytest.fixture
def unreachable(tmp_path):
    """A server whose PostgreSQL and Redis ports have nothing listening."""
    env = _env(
        tmp_path,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/peermetrics",
        REDIS_HOST=f"redis://127.0.0.1:{closed_port()}/0",
    )
    server = granian(free_port(), env).start()
    yield server
    server.stop()


def test_ready_is_503_json_while_the_database_and_redis_are_down(unreachable):
    answer = unreachable.request("GET", "/ready")

    assert answer.status == 503
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["error_code"] == "service_unavailable"
    assert body["checks"]["database"].startswith("unavailable (OperationalError)")
    assert body["checks"]["redis"].startswith("unavailable (ConnectionError)")
    assert "migrations" not in body["checks"]  # not knowable without the database


def test_health_answers_503_json_while_the_database_is_down(unreachable):
    answer = unreachable.request("GET", "/health")

    assert answer.status == 503
    assert answer.json()["error_code"] == "service_unavailable"
    assert answer.json()["status"] == "unavailable"


def test_ready_waits_for_the_migrations_and_needs_no_restart_once_they_are_applied(tmp_path):
    env = _env(tmp_path)
    server = granian(free_port(), env).start()
    try:
        before = server.request("GET", "/ready")
        assert manage("migrate", "--noinput", env=env).returncode == 0

        after = server.request("GET", "/ready")
    finally:
        server.stop()

    assert before.status == 503
    assert before.json()["checks"]["database"] == "ok"
    assert before.json()["checks"]["migrations"].endswith("pending")
    assert after.status == 200
    assert after.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
