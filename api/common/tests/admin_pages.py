"""What every admin test checks: each page of a model's admin answers 200,
and list pages of the large tables never count a whole table.

Not a test module itself: the apps' ``tests/test_admin.py`` call these."""

from __future__ import annotations

import re
import uuid

from django.contrib import admin
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api.ingest.tests.test_replay_captured_calls import replay

# Terms every search box must survive: text, quotes, LIKE wildcards, a
# UUID of no row, a 36-character string that is not a UUID, and a 32-hex
# string (the shape of an api key, which Python would also parse as a UUID).
SEARCH_TERMS = (
    "acme",
    "'quoted phrase' \"double\"",
    "%_\\",
    str(uuid.UUID(int=1)),
    "x" * 36,
    "0123456789abcdef0123456789abcdef",
)
COUNT = re.compile(r"\bCOUNT\(", re.IGNORECASE)
LIMIT = re.compile(r"\bLIMIT\b", re.IGNORECASE)


def record_call(sdk, monkeypatch, captured_call, name: str = "call-2-participants.json") -> None:
    """Store a real call through the SDK endpoints (the captured replay):
    a conference, its participants, sessions, connections, tracks, events,
    stats samples and the app's usage."""
    replay(sdk, monkeypatch, captured_call(name))


def changelist_url(model: type[Model]) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def change_url(obj: Model) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def admin_page_failures(client, model: type[Model], *, max_rows: int = 30) -> list[str]:
    """Visit the model's list, every filter choice, a search for each of
    ``SEARCH_TERMS`` and for each row's own id, and the change page of up to
    ``max_rows`` rows. Returns what did not answer 200 (or did not find a row
    by its id), so one test can report every failure at once."""
    failures: list[str] = []

    def get(url: str, **params):
        response = client.get(url, params)
        if response.status_code != 200:
            failures.append(f"{model.__name__} {url} {params} → {response.status_code}")
        return response

    base = changelist_url(model)
    response = get(base)
    if response.status_code == 200:
        cl = response.context["cl"]
        for spec in cl.filter_specs:
            for choice in spec.choices(cl):
                get(base + choice["query_string"])
    for term in SEARCH_TERMS:
        get(base, q=term)

    rows = list(model._default_manager.order_by("pk")[:max_rows])
    if not rows:
        failures.append(f"{model.__name__}: no rows to test with")
    model_admin = admin.site._registry[model]
    for row in rows:
        get(change_url(row))
    id_fields = getattr(model_admin, "id_search_fields", ())
    if rows and isinstance(rows[0].pk, uuid.UUID) and "pk" in id_fields:
        found = get(base, q=str(rows[0].pk))
        if found.status_code == 200 and rows[0] not in found.context["cl"].result_list:
            failures.append(f"{model.__name__}: searching its own id did not find it")
    return failures


def unbounded_counts(client, url: str, **params) -> list[str]:
    """The COUNT queries a page runs that are not bounded by a LIMIT."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200, (url, params, response.status_code)
    return [
        query["sql"]
        for query in captured.captured_queries
        if COUNT.search(query["sql"]) and not LIMIT.search(query["sql"])
    ]
