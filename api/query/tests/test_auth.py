"""Session login for the dashboard, API tokens for scripts."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import orjson
import pytest
from django.test import Client

from api.query.tests.conftest import ApiAnswer, ApiClient
from api.query.tests.factories import user_make
from api.tenancy import services
from api.tenancy.models import ApiToken, Organization

PASSWORD = "correct horse battery"


def _login(
    client: Client, username: str, password: str = PASSWORD, *, address: str = "127.0.0.1"
) -> ApiAnswer:
    """Log in as the dashboard does: fetch the CSRF cookie, send it back."""
    token = client.get("/v1/auth/csrf").json()["csrf_token"]
    return ApiAnswer(
        client.post(
            "/v1/auth/login",
            data=orjson.dumps({"username": username, "password": password}),
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
            REMOTE_ADDR=address,
        )
    )


def _post(client: Client, path: str, body, **headers) -> ApiAnswer:
    return ApiAnswer(
        client.post(path, data=orjson.dumps(body), content_type="application/json", **headers)
    )


# ------------------------------------------------------------------ session


@pytest.mark.django_db
def test_a_user_logs_in_and_the_session_cookie_authenticates_reads(acme):
    # given a browser
    browser = Client(enforce_csrf_checks=True)

    # when the owner logs in
    answer = _login(browser, acme.owner.username)

    # then the answer names the user, their organizations and a CSRF token
    assert answer.status == 200, answer
    assert answer.data["user"]["username"] == "acme-owner"
    assert answer.data["organizations"] == [
        {
            "id": str(acme.organization.pk),
            "name": "acme org",
            "created_at": answer.data["organizations"][0]["created_at"],
            "role": "owner",
        }
    ]
    assert answer.json["csrf_token"]
    assert "pmsession" in browser.cookies
    # and the cookie alone authenticates reads
    me = ApiAnswer(browser.get("/v1/auth/me"))
    assert me.status == 200 and me.data["user"]["id"] == str(acme.owner.pk)


@pytest.mark.django_db
def test_a_wrong_password_is_refused_without_a_session(acme):
    browser = Client()

    answer = _login(browser, acme.owner.username, "not the password")

    assert answer.status == 401
    assert answer.json["error_code"] == "invalid_credentials"
    assert ApiAnswer(browser.get("/v1/auth/me")).status == 401


@pytest.mark.django_db
def test_repeated_wrong_passwords_lock_the_login_out_for_a_while(acme):
    browser = Client()
    for _ in range(10):
        assert _login(browser, acme.owner.username, "guess").status == 401

    locked = _login(browser, acme.owner.username, PASSWORD)

    # even the right password, until the window passes
    assert locked.status == 429
    assert locked.json["error_code"] == "rate_limited"
    assert int(locked.headers["Retry-After"]) == 15 * 60
    # and from another address too: the account is locked
    assert _login(browser, acme.owner.username, address="198.51.100.7").status == 429
    # other users, from other addresses, are not locked out
    assert _login(browser, acme.admin.username, address="198.51.100.8").status == 200


@pytest.mark.django_db
def test_one_address_spraying_a_password_over_many_accounts_is_locked_out(acme):
    # given 40 usernames (most of them nobody's) tried with one password
    browser = Client()
    answers = [
        _login(browser, f"user-{n}", "Summer2026!", address="203.0.113.50").status
        for n in range(40)
    ]

    # then the address is refused after the tenth failure, before any hashing
    assert answers[:10] == [401] * 10
    assert set(answers[10:]) == {429}
    # even for a real account with its right password, from that address
    assert _login(browser, acme.owner.username, address="203.0.113.50").status == 429
    # while the account itself is not locked
    assert _login(browser, acme.owner.username, address="203.0.113.51").status == 200


@pytest.mark.django_db
def test_the_lockout_is_kept_where_every_process_sees_it(acme, settings):
    # given no Redis: the failures are rows of the database, not process memory
    from axes.models import AccessAttempt

    browser = Client()
    for _ in range(3):
        _login(browser, acme.owner.username, "guess")

    if "database" in settings.AXES_HANDLER:
        attempt = AccessAttempt.objects.get()
        assert attempt.failures_since_start == 3
        assert attempt.username == acme.owner.username
    else:  # with Redis configured, the shared cache holds the count
        assert "cache" in settings.AXES_HANDLER


@pytest.mark.django_db
def test_a_cross_site_login_is_refused_whatever_its_content_type(acme):
    # given a page of another site posting the visitor's browser to the login
    # as text/plain (a "simple" request: no CORS preflight stops it)
    browser = Client(enforce_csrf_checks=True)
    body = orjson.dumps({"username": acme.owner.username, "password": PASSWORD})

    for content_type in ("text/plain", "application/json", "application/x-www-form-urlencoded"):
        answer = ApiAnswer(
            browser.post(
                "/v1/auth/login",
                data=body,
                content_type=content_type,
                HTTP_ORIGIN="https://evil.example",
            )
        )

        # then it is refused and no session starts
        assert answer.status == 403, (content_type, answer)
        assert answer.json["error_code"] == "csrf_failed"
        assert "pmsession" not in browser.cookies


@pytest.mark.django_db
def test_logins_from_one_address_are_rate_limited_before_the_password_is_checked(acme, settings):
    from dataclasses import replace

    settings.CONFIG = replace(settings.CONFIG, rate_limit_login="3/m")
    browser = Client()
    statuses = [_login(browser, acme.owner.username, address="192.0.2.99").status for _ in range(4)]

    assert statuses[:3] == [200, 200, 200]
    limited = _login(browser, acme.owner.username, address="192.0.2.99")
    assert limited.status == 429
    assert limited.json["error_code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


@pytest.mark.django_db
def test_a_successful_login_forgets_earlier_failures(acme):
    browser = Client()
    for _ in range(9):
        _login(browser, acme.owner.username, "guess")

    assert _login(browser, acme.owner.username).status == 200
    for _ in range(9):
        assert _login(browser, acme.owner.username, "guess").status == 401


@pytest.mark.django_db
def test_a_login_without_credentials_is_a_400(db):
    answer = ApiClient().post("/v1/auth/login", {"username": "x"})

    assert answer.status == 400
    assert answer.json["error_code"] == "invalid_parameters"
    assert "password" in answer.json["message"]


@pytest.mark.django_db
def test_a_cookie_authenticated_write_without_the_csrf_token_is_refused(acme):
    # given a logged-in browser
    browser = Client(enforce_csrf_checks=True)
    csrf = _login(browser, acme.owner.username).json["csrf_token"]

    # when it posts without the CSRF header (what a forged cross-site form does)
    forged = _post(browser, "/v1/organizations", {"name": "Forged"})

    # then nothing is created
    assert forged.status == 403
    assert forged.json["error_code"] == "csrf_failed"
    assert not Organization.objects.filter(name="Forged").exists()

    # and with the header it goes through
    done = _post(browser, "/v1/organizations", {"name": "Real"}, HTTP_X_CSRFTOKEN=csrf)
    assert done.status == 201, done
    assert done.data["role"] == "owner"


@pytest.mark.django_db
def test_the_session_cookie_works_on_paths_shared_with_the_sdk(acme):
    # GET /v1/sessions reaches the query API through the SDK view, which
    # takes only POST and PUT itself.
    browser = Client(enforce_csrf_checks=True)
    _login(browser, acme.owner.username)

    listed = ApiAnswer(browser.get("/v1/sessions", {"conferenceId": str(acme.conference.pk)}))
    refused = ApiAnswer(browser.delete("/v1/sessions"))

    assert listed.status == 200, listed
    assert {s["id"] for s in listed.data} == {str(s.pk) for s in acme.sessions}
    assert refused.status == 405
    assert refused.json["error_code"] == "method_not_allowed"


@pytest.mark.django_db
def test_logout_ends_the_session(acme):
    browser = Client(enforce_csrf_checks=True)
    csrf = _login(browser, acme.owner.username).json["csrf_token"]

    answer = _post(browser, "/v1/auth/logout", None, HTTP_X_CSRFTOKEN=csrf)

    assert answer.status == 200 and answer.json == ""
    assert ApiAnswer(browser.get("/v1/auth/me")).status == 401


@pytest.mark.django_db
def test_an_inactive_user_cannot_log_in_nor_use_a_token(acme):
    client = ApiClient(acme.member)
    acme.member.is_active = False
    acme.member.save()

    assert _login(Client(), acme.member.username).status == 401
    assert client.get("/v1/auth/me").status == 401


# ------------------------------------------------------------------- tokens


@pytest.mark.django_db
def test_a_user_creates_a_token_and_scripts_use_it_without_csrf(acme):
    # given a logged-in owner
    browser = Client(enforce_csrf_checks=True)
    csrf = _login(browser, acme.owner.username).json["csrf_token"]

    # when they create a token
    created = _post(browser, "/v1/auth/tokens", {"name": "grafana"}, HTTP_X_CSRFTOKEN=csrf)

    # then it is shown once, stored only as its SHA-256
    assert created.status == 201, created
    raw = created.data["token"]
    assert raw.startswith("pm_") and created.data["prefix"] == raw[:12]
    row = ApiToken.objects.get(pk=created.data["id"])
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(list(ApiToken.objects.values()))
    listed = ApiAnswer(browser.get("/v1/auth/tokens"))
    assert [t["name"] for t in listed.data] == ["grafana"]
    assert "token" not in listed.data[0]

    # and a script uses it for writes, no cookie, no CSRF token
    script = Client(enforce_csrf_checks=True)
    answer = _post(
        script, "/v1/organizations", {"name": "Scripted"}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert answer.status == 201, answer


@pytest.mark.django_db
def test_using_a_token_records_when_it_was_last_used(acme, monkeypatch):
    token, raw = services.api_token_create(user=acme.owner, name="cron")
    assert token.last_used_at is None
    client = Client()

    client.get("/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    token.refresh_from_db()
    first_use = token.last_used_at

    assert first_use is not None
    # Within a minute the time is not rewritten (no write per request) ...
    client.get("/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    token.refresh_from_db()
    assert token.last_used_at == first_use
    # ... after it, it is.
    later = first_use + timedelta(minutes=5)
    monkeypatch.setattr("api.tenancy.services.now", lambda: later)
    client.get("/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    token.refresh_from_db()
    assert token.last_used_at == later


@pytest.mark.django_db
def test_a_revoked_token_no_longer_authenticates(acme):
    client = ApiClient(acme.owner)
    token_id = client.get("/v1/auth/tokens").data[0]["id"]

    revoked = client.delete(f"/v1/auth/tokens/{token_id}")

    assert revoked.status == 200
    assert ApiToken.objects.get(pk=token_id).revoked_at is not None
    answer = client.get("/v1/auth/me")
    assert answer.status == 401
    assert answer.json["error_code"] == "not_authenticated"


@pytest.mark.django_db
def test_a_user_cannot_revoke_someone_elses_token(acme, globex):
    token, _ = services.api_token_create(user=acme.owner, name="acme script")

    answer = ApiClient(globex.owner).delete(f"/v1/auth/tokens/{token.pk}")

    assert answer.status == 404
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Bearer pm_not-a-real-token", "Bearer ", "Basic YWxpY2U6cGFzcw==", "Token abc", "Bearer x y"],
)
def test_a_bad_authorization_header_is_a_401_even_with_a_session(acme, header):
    # given a logged-in browser that also sends a bad Authorization header
    browser = Client()
    browser.force_login(acme.owner)

    answer = ApiAnswer(browser.get("/v1/auth/me", HTTP_AUTHORIZATION=header))

    # then the bad credential is not silently replaced by the cookie
    assert answer.status == 401
    assert answer.json["error_code"] == "not_authenticated"


@pytest.mark.django_db
def test_a_token_name_must_not_be_empty(acme):
    answer = ApiClient(acme.owner).post("/v1/auth/tokens", {"name": "  "})

    assert answer.status == 400
    assert answer.json["error_code"] == "missing_parameters"


@pytest.mark.django_db
def test_the_session_of_one_user_never_shows_another_users_data(acme, globex):
    browser = Client()
    browser.force_login(globex.owner)

    answer = ApiAnswer(browser.get("/v1/apps"))

    assert [app["name"] for app in answer.data] == ["globex app"]


@pytest.mark.django_db
def test_anonymous_calls_get_the_json_401(db):
    user_make("someone")

    answer = ApiClient().get("/v1/conferences")

    assert answer.status == 401
    assert answer.json == {
        "error_code": "not_authenticated",
        "message": "Authentication credentials were not provided or are not valid.",
    }
