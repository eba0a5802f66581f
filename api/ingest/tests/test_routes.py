"""The SDK routes: under ``/v1/`` and without the prefix, no trailing slash,
and a JSON 405 for methods they do not take."""

from __future__ import annotations

import pytest

from api.ingest.urls import SDK_PATHS

METHOD_NOT_ALLOWED = {"error_code": "method_not_allowed", "message": "Method not allowed."}

# Paths that only the SDK uses: the query API serves none of them, so any
# other method is refused here. (GET /v1/sessions, /v1/stats, ... belong to
# the query API.)
SDK_ONLY = [
    "/initialize",
    "/connection/batch",
    "/tracks",
    "/services/get-url",
    "/services/stop-conference",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(SDK_PATHS - {"/bench/noop"}))
@pytest.mark.parametrize("prefix", ["/v1", ""])
def test_every_sdk_route_is_served_with_and_without_the_prefix(sdk, app, path, prefix):
    response = sdk.send("POST", prefix + path, None, raw=b"")

    assert (response.status, response.json["error_code"]) == (400, "invalid_json")


@pytest.mark.parametrize("prefix", ["/v1", ""])
def test_the_benchmark_no_op_answers_an_empty_json_string(sdk, prefix):
    response = sdk.send("POST", prefix + "/bench/noop", None, raw=b"anything")

    assert (response.status, response.raw) == (200, b'""')


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(SDK_PATHS))
def test_a_trailing_slash_is_not_a_route(sdk, app, path):
    # The SDK never adds one; a redirect would turn its POST into a GET.
    response = sdk.send("POST", f"/v1{path}/", None, raw=b"{}")

    assert response.status == 404
    assert response.json["error_code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("path", SDK_ONLY)
@pytest.mark.parametrize("method", ["get", "delete", "patch", "head"])
def test_a_method_an_sdk_route_does_not_take_is_method_not_allowed(client, path, method):
    response = getattr(client, method)(f"/v1{path}")

    assert response.status_code == 405
    if method != "head":
        assert response.json() == METHOD_NOT_ALLOWED


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v1/initialize", "/v1/services/get-url"])
def test_put_on_a_post_only_route_is_method_not_allowed(sdk, app, path):
    response = sdk.put(path, {})

    assert (response.status, response.json) == (405, METHOD_NOT_ALLOWED)
