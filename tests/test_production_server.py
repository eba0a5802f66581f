"""The server as it runs in production: DEBUG off, the production
environment documented in docs/deploy.md, granian with two worker
processes, behind a TLS proxy (played by the headers such a proxy sets).

One server for the module: migrations, collectstatic and ``check
--deploy`` run first, as the documented steps say."""

from __future__ import annotations

import gzip
import json
import re
from urllib.parse import urlencode

import pytest
from django.conf import settings

from conftest import CAPTURED_API_KEY, SDK_PAYLOADS
from tests.server import (
    ROOT,
    base_environment,
    call_replay,
    free_port,
    granian,
    manage,
    scratch_database,
    strong_secret,
)

HOST = "peermetrics.example.com"
# What the proxy in front adds: the public host, the scheme the client
# used, and the client's address.
PROXIED = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
ADMIN_PASSWORD = "correct horse battery staple 7"


def documented_environment() -> dict[str, str]:
    """The KEY=VALUE lines of the production environment block of
    docs/deploy.md (values in <angle brackets> are placeholders)."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = text.split("<!-- production environment -->", 1)[1]
    block = block.split("```sh\n", 1)[1].split("```", 1)[0]
    env = {}
    for line in block.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


class Production:
    def __init__(self, server, env: dict[str, str], deploy_check: str) -> None:
        self.server = server
        self.env = env
        self.deploy_check = deploy_check

    def get(self, path: str, headers: dict[str, str] | None = None):
        return self.server.request("GET", path, headers={**PROXIED, **(headers or {})})


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> Production:
    tmp = tmp_path_factory.mktemp("production")
    documented = documented_environment()
    with scratch_database("production", tmp) as database_url:
        env = base_environment(**documented)
        for name, value in documented.items():
            if value.startswith("<"):
                env[name] = strong_secret()
        env.update(
            DATABASE_URL=database_url,
            DATA_DIR=str(tmp / "data"),
            STATIC_ROOT=str(tmp / "static"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
            LOG_REQUESTS="true",
        )
        if settings.CONFIG.redis_url:
            env["REDIS_HOST"] = settings.CONFIG.redis_url
        else:
            env.pop("REDIS_HOST", None)
        for step in (
            ["migrate", "--noinput"],
            ["collectstatic", "--noinput"],
            [
                "quickstart",
                "--username",
                "ops",
                "--password",
                ADMIN_PASSWORD,
                "--api-key",
                CAPTURED_API_KEY,
                "--url",
                f"https://{HOST}/",
            ],
        ):
            done = manage(*step, env=env)
            assert done.returncode == 0, (step, done.stdout, done.stderr)
        deploy_check = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
        server = granian(free_port(), env, workers=2).start()
        try:
            yield Production(server, env, deploy_check.stdout + deploy_check.stderr)
        finally:
            server.stop()


def test_check_deploy_is_clean_with_the_documented_production_environment(production):
    assert "System check identified no issues" in production.deploy_check, production.deploy_check


def test_the_home_page_says_where_to_go_instead_of_a_debug_404(production):
    answer = production.get("/")

    assert answer.status == 200
    assert "/admin/" in answer.text and "/v1/docs" in answer.text
    assert f"https://{HOST}/v1" in answer.text


def test_the_admin_css_is_served_hashed_compressed_and_cached_for_ever(production):
    page = production.get("/admin/login/")
    css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page.text)
    assert css, page.text[:2000]

    answer = production.get(css.group(1), {"Accept-Encoding": "gzip"})

    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/css")
    assert answer.headers["Content-Encoding"] == "gzip"
    assert "immutable" in answer.headers["Cache-Control"]
    assert b"body" in gzip.decompress(answer.body)


def test_the_docs_page_gets_its_javascript(production):
    page = production.get("/v1/docs")
    assert page.status == 200
    scripts = re.findall(r'src="(/static/ninja/[^"]+\.js)"', page.text)
    assert any("swagger-ui-bundle." in src for src in scripts), page.text

    for src in scripts:
        answer = production.get(src)
        assert answer.status == 200, src
        assert "javascript" in answer.headers["Content-Type"]
    bundle = next(src for src in scripts if "swagger-ui-bundle." in src)
    assert len(production.get(bundle).body) > 100_000


def _cookies(answer) -> dict[str, str]:
    found = {}
    for header in answer.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.strip().partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


def test_an_admin_logs_in_on_a_public_host_name_through_the_proxy(production):
    page = production.get("/admin/login/?next=/admin/")
    assert page.status == 200
    csrf_cookie = _cookies(page)["csrftoken"]
    assert "Secure" in page.headers["Set-Cookie"]
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    login = production.server.request(
        "POST",
        "/admin/login/?next=/admin/",
        body=urlencode(
            {
                "username": "ops",
                "password": ADMIN_PASSWORD,
                "csrfmiddlewaretoken": form_token,
                "next": "/admin/",
            }
        ).encode(),
        headers={
            **PROXIED,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Origin": f"https://{HOST}",
            "Referer": f"https://{HOST}/admin/login/",
        },
    )

    assert login.status == 302, login.text[:2000]
    assert login.headers["Location"] == "/admin/"
    session = _cookies(login)["pmsession"]
    admin = production.get("/admin/", {"Cookie": f"csrftoken={csrf_cookie}; pmsession={session}"})
    assert admin.status == 200
    assert "Site administration" in admin.text
    assert admin.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_plain_http_is_sent_to_https(production):
    answer = production.server.request("GET", "/admin/login/", headers={"Host": HOST})

    assert answer.status == 301
    assert answer.headers["Location"] == f"https://{HOST}/admin/login/"


def test_an_unknown_host_name_is_refused(production):
    answer = production.get("/admin/login/", {"Host": "attacker.example.net"})

    assert answer.status == 400


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _scrape(production) -> str:
    answer = production.get(
        "/metrics", {"Authorization": f"Bearer {production.env['METRICS_TOKEN']}"}
    )
    assert answer.status == 200, answer.text
    return answer.text


@pytest.fixture(scope="module")
def replayed(production):
    """A captured two-participant call, sent through the proxy headers."""
    before = _scrape(production)
    call = json.loads((SDK_PAYLOADS / "call-2-participants.json").read_text())
    exchanges = call_replay(production.server, call, headers=PROXIED)
    return before, exchanges


def test_every_request_of_a_real_sdk_call_is_answered_like_the_sdk_expects(replayed):
    _, exchanges = replayed
    for request, answer in exchanges:
        expected = 200 if request["body"].get("eventName") == "removeConnection" else None
        assert answer.status == (expected or request["answer"]["status"]), (request, answer.body)


def test_metrics_count_the_stats_accepted_by_every_worker_process(production, replayed):
    before, exchanges = replayed
    posted = sum(1 for request, _ in exchanges if request["path"] == "/v1/stats")

    after = _scrape(production)

    def moved(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    assert posted == 8
    assert moved("pm_stats_samples_accepted_total", sink="direct") == posted
    assert moved("pm_stats_samples_stored_total") == posted
    assert moved("pm_http_requests_total", route="v1/stats", method="POST", status="200") == posted
    assert moved("pm_http_request_duration_seconds_count", route="v1/stats") == posted
    assert _metric(after, "pm_conferences_live") >= 0
    assert "pm_participants_live" in after


def test_metrics_are_refused_without_the_token(production):
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        answer = production.get("/metrics", headers)

        assert answer.status == 403
        assert answer.json()["error_code"] == "permission_denied"


def test_log_lines_are_json_with_the_request_id_and_never_a_secret(production, replayed):
    _, exchanges = replayed
    production.get("/health")
    output = production.server.output()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "api.access"]
    stats = [r for r in access if r["route"] == "v1/stats"]

    assert stats and all(r["request_id"] and r["app_id"] for r in stats)
    assert len({r["request_id"] for r in access}) == len(access)
    assert {"time", "level", "message"} <= set(stats[0])
    issued = [
        answer.json()["token"]
        for _, answer in exchanges
        if answer.body.startswith(b"{") and "token" in answer.json()
    ]
    assert issued
    for secret in [
        CAPTURED_API_KEY,
        ADMIN_PASSWORD,
        production.env["METRICS_TOKEN"],
        production.env["SECRET_KEY"],
        *issued,
    ]:
        assert secret not in output


def test_the_production_environment_block_lists_only_variables_the_server_reads():
    source = (ROOT / "api" / "env.py").read_text()
    for name in documented_environment():
        # GRANIAN_* are granian's own options.
        assert f'"{name}"' in source or name.startswith("GRANIAN_"), name


def test_the_login_lockout_is_shared_by_both_worker_processes(production):
    # Last in this module: it locks the ops account out.
    # given the CSRF cookie the dashboard gets first
    csrf = production.get("/v1/auth/csrf")
    token = _cookies(csrf)["csrftoken"]

    def login(password: str, client: str):
        return production.server.request(
            "POST",
            "/v1/auth/login",
            body=json.dumps({"username": "ops", "password": password}).encode(),
            headers={
                **PROXIED,
                "X-Forwarded-For": client,
                "Content-Type": "application/json",
                "Cookie": f"csrftoken={token}",
                "X-CSRFToken": token,
                "Origin": f"https://{HOST}",
                "Referer": f"https://{HOST}/",
            },
        )

    # when ten wrong passwords come from ten addresses, spread over the two
    # worker processes by the connections
    failures = [login("guess", f"198.51.100.{n}").status for n in range(10)]
    # then the account is locked for every process, even with its password
    locked = login(ADMIN_PASSWORD, "198.51.100.99")

    assert failures == [401] * 10
    assert locked.status == 429, locked.text
    assert locked.json()["error_code"] == "rate_limited"
    assert int(locked.headers["Retry-After"]) == 15 * 60
