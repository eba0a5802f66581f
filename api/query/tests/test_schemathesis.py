"""Property-based tests of the query API against its committed OpenAPI
document (schemathesis): every operation, valid and invalid input, through
the WSGI application as a user with data. No answer may be a 5xx, and
every answer must be one the document describes (status, content type,
body schema).

Deterministic: a fixed seed and a bounded number of examples per
operation, so a failure reproduces and the run stays under a minute.
"""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.query.openapi import COMMITTED
from api.tenancy import services
from api.wsgi import application

SEED = 20261129
# Per operation and mode. ~40 operations x (positive + negative) x this.
EXAMPLES = 20

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Operations that would end the run's own access when given real ids are
# fuzzed with generated ids only.
_DESTRUCTIVE = {
    ("DELETE", "/v1/organizations/{organization_id}"),
    ("DELETE", "/v1/apps/{app_id}"),
    ("POST", "/v1/auth/logout"),
}


@contextlib.contextmanager
def _one_connection_for_the_test():
    # A raw WSGI call closes "old" database connections at the end of each
    # request, which would close the test's transaction; Django's own test
    # client detaches the same handler.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _real_ids(tenant, spare_token_id) -> dict[str, str]:
    return {
        "organization_id": str(tenant.organization.pk),
        "user_id": str(tenant.member.pk),
        "token_id": str(spare_token_id),
        "app_id": str(tenant.app.pk),
        "conference_id": str(tenant.conference.pk),
        "participant_id": str(tenant.participants[0].pk),
        "session_id": str(tenant.sessions[0].pk),
        "connection_id": str(tenant.connections[0].pk),
        "issue_id": str(tenant.issues[0].pk),
    }


def _operations(schema):
    operations = [result.ok() for result in schema.get_all_operations()]
    # Reads first, then writes, the destructive ones last.
    return sorted(
        operations,
        key=lambda op: (
            (op.method.upper(), op.path) in _DESTRUCTIVE,
            op.method.upper() != "GET",
            op.path,
        ),
    )


def _fuzz(strategy, run, *, examples: int) -> None:
    @seed(SEED)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=strategy)
    def test(case):
        run(case)

    test()


@pytest.mark.django_db
def test_the_api_honours_its_committed_schema_under_generated_input(acme, globex, settings):
    settings.ALLOWED_HOSTS = ["*"]
    # Thousands of requests from one address in a minute: the query rate
    # limit (tested on its own) would answer the later ones 429.
    settings.CONFIG = dataclasses.replace(settings.CONFIG, rate_limit_query=None)
    schema = schemathesis.openapi.from_path(COMMITTED)
    _, raw = services.api_token_create(user=acme.owner, name="schemathesis")
    spare, _ = services.api_token_create(user=acme.owner, name="spare")
    headers = {"Authorization": f"Bearer {raw}"}
    ids = _real_ids(acme, spare.pk)
    failures: list[str] = []
    statuses: list[int] = []

    def check(case, checks):
        response = case.call(app=application, headers=headers)
        statuses.append(response.status_code)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except AssertionError as error:  # FailureGroup is one
            failures.append(f"{case.method} {case.formatted_path}: {error}")
            raise

    with _one_connection_for_the_test():
        for operation in _operations(schema):
            key = (operation.method.upper(), operation.path)
            path_ids = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
            modes = [("generated", {}), ("real ids", path_ids)]
            if key in _DESTRUCTIVE or not path_ids:
                modes = modes[:1]
            for _, fixed in modes:
                _fuzz(
                    operation.as_strategy(path_parameters=fixed or None),
                    lambda case: check(case, CHECKS),
                    examples=EXAMPLES,
                )
            # An operation that takes nothing (GET /auth/csrf) has no invalid input.
            with contextlib.suppress(Unsatisfiable):
                _fuzz(
                    operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
                    lambda case: check(case, [not_a_server_error, negative_data_rejection]),
                    examples=EXAMPLES // 2,
                )

    assert not failures
    # The run reached real data, not only 404s and 400s.
    assert sum(1 for status in statuses if 200 <= status < 300) > len(statuses) // 5
