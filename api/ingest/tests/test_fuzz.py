"""A fuzz suite over the SDK's routes: every body the real SDK sent (the
captured call), each key of it and of its ``data`` replaced, removed or
joined by generated values (NUL characters, lone surrogates, huge and odd
numbers, deep or wrong shapes), generated headers and query parameters,
raw bytes that are not JSON or not UTF-8, and bodies of 1.2 MB and 6 MB,
all through the production WSGI application (the SDK's lean lane).

No answer may be a 5xx, and every answer is JSON. Deterministic (a fixed
seed, derandomized) and bounded: a few seconds per database.
"""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import orjson
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from api.ingest.tests.fake_sdk import _captured_requests
from api.ingest.tests.lane import wsgi_call
from conftest import placeholders_replace

pytestmark = pytest.mark.django_db

SEED = 20261203
EXAMPLES = 12  # per route and kind of change
MB = 1024 * 1024

SDK_ROUTES = sorted({(r["method"], r["path"]) for r in _captured_requests()}) + [
    ("POST", "/v1/connection/batch"),
    ("POST", "/v1/services/get-url"),
    ("POST", "/v1/services/stop-conference"),
]

NASTY_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "\udfff", "\ud83d", "\u202e", "\ufeff", "", " " * 70, "é" * 300]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    NASTY_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _environ(method: str, path: str, body: bytes, headers: dict[str, str]) -> dict:
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": headers.pop("Content-Type", "text/plain"),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }
    # A WSGI server hands headers over as the bytes received, decoded as
    # latin-1: what a client sends as UTF-8 (or not) arrives that way.
    environ.update(
        {
            f"HTTP_{k.upper().replace('-', '_')}": v.encode("utf-8", "surrogatepass").decode(
                "latin-1"
            )
            for k, v in headers.items()
        }
    )
    return environ


def call(method: str, path: str, body: bytes, headers: dict[str, str] | None = None):
    from api.wsgi import application

    status, _, raw = wsgi_call(application, _environ(method, path, body, dict(headers or {})))
    return int(status.split()[0]), raw


@pytest.fixture
def live(page):
    """A running call, and the captured bodies with its tokens and ids."""
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    mapping = {}
    for request in _captured_requests():
        answer = request["answer"]["body"]
        if isinstance(answer, dict) and isinstance(answer.get("token"), str):
            mapping[answer["token"]] = (
                alice.token if request["path"] == "/v1/sessions" else alice.init_token
            )
        for key, mine in (("peer_id", link.peer_id), ("connection_id", link.connection_id)):
            if isinstance(answer, dict) and key in answer:
                mapping[answer[key]] = mine
    bodies: dict[tuple[str, str], list[dict]] = {}
    for request in _captured_requests():
        body = placeholders_replace(copy.deepcopy(request["body"]), mapping)
        if "token" in body and request["path"] not in ("/v1/initialize", "/v1/sessions"):
            body["token"] = alice.token
        bodies.setdefault((request["method"], request["path"]), []).append(body)
    bodies[("POST", "/v1/connection/batch")] = [
        {"token": alice.token, "data": [b for b in bodies[("POST", "/v1/connection")][:3]]}
    ]
    base = {"apiKey": bodies[("POST", "/v1/initialize")][0]["apiKey"], "conferenceId": "room-1"}
    bodies[("POST", "/v1/services/get-url")] = [{**base, "userId": "alice"}]
    bodies[("POST", "/v1/services/stop-conference")] = [base]
    return bodies


@pytest.fixture
def one_connection():
    # As Django's test client does: a raw WSGI request must not close the
    # connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _fuzz(strategy, check) -> None:
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        check(case)

    run()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a body, ``data`` included, two levels deep."""
    found = []
    if isinstance(value, dict) and len(prefix) < 3:
        for key, item in value.items():
            found.append((*prefix, key))
            found += _paths(item, (*prefix, key))
    return found


def _set(body: dict, path: tuple, value: Any, *, remove: bool) -> dict:
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    if remove:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return body


def _encode(body: Any) -> bytes:
    # json (not orjson): it writes lone surrogates as \\ud800 escapes and
    # NaN/Infinity as bare words, as a careless client might.
    return json.dumps(body, allow_nan=True).encode()


failures: list[str] = []


def _checked(method: str, path: str, data: bytes, headers: dict | None = None) -> None:
    status, raw = call(method, path, data, headers)
    if status >= 500:
        failures.append(f"{method} {path} {status}: {data[:200]!r} -> {raw[:200]!r}")
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        failures.append(f"{method} {path} {status}: not JSON: {raw[:200]!r}")


@pytest.mark.parametrize(("method", "path"), SDK_ROUTES, ids=[f"{m} {p}" for m, p in SDK_ROUTES])
def test_no_generated_sdk_body_header_or_parameter_gets_a_5xx(live, one_connection, method, path):
    failures.clear()
    bodies = live[(method, path)]
    paths = [_paths(body) for body in bodies]

    # every key of every body the SDK sent: replaced, or removed
    _fuzz(
        st.tuples(st.integers(0, len(bodies) - 1), st.integers(0, 10_000), VALUES, st.booleans()),
        lambda case: _checked(
            method,
            path,
            _encode(
                _set(
                    bodies[case[0]],
                    paths[case[0]][case[1] % len(paths[case[0]])],
                    case[2],
                    remove=case[3],
                )
            ),
        ),
    )
    # extra keys, headers and query parameters
    _fuzz(
        st.tuples(
            st.dictionaries(st.one_of(st.text(max_size=10), NASTY_TEXT), VALUES, max_size=3),
            st.sampled_from(["text/plain", "application/json", "", "multipart/form-data; x"]),
            st.one_of(st.none(), st.text(max_size=30), NASTY_TEXT.filter(lambda t: t != "\x00")),
            st.sampled_from(["", "?a=%00", "?token=%ud800", "?x=" + "y" * 3000, "?%FF=%FE"]),
        ),
        lambda case: _checked(
            method,
            path + case[3],
            _encode({**bodies[0], **case[0]}),
            {"Content-Type": case[1], **({"Origin": case[2]} if case[2] is not None else {})},
        ),
    )
    # bytes that are not a JSON object
    _fuzz(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b"[]",
                    b"null",
                    b'{"token": "\xed\xa0\x80"}',  # a surrogate in UTF-8 (CESU)
                    b'{"token": "\\ud800"}',
                    b'{"a": ' * 2000 + b"1" + b"}" * 2000,
                    b"\xff\xfe" + "{}".encode("utf-16-le"),
                ]
            ),
        ),
        lambda case: _checked(method, path, case),
    )

    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("size", [int(1.2 * MB), 6 * MB])
@pytest.mark.parametrize(("method", "path"), SDK_ROUTES, ids=[f"{m} {p}" for m, p in SDK_ROUTES])
def test_bodies_over_the_limit_are_a_413_on_every_sdk_route(
    live, one_connection, method, path, size
):
    body = dict(live[(method, path)][0])
    body["padding"] = "x" * size

    status, raw = call(method, path, _encode(body))

    assert status == 413, raw[:200]
    assert orjson.loads(raw)["error_code"] == "body_too_large"
