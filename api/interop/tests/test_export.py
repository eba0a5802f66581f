"""Exports: JSON Lines and CSV of a conference or of an app's calls,
streamed, scoped to the caller, and the same records the query API
answers for the same objects."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.test import TestCase

from api.calls.models import Conference
from api.interop.export import CSV_COLUMNS
from api.interop.tests.conftest import DUMPS, upload
from api.quality.models import Issue, TrackMetric
from api.query.tests.conftest import ApiClient
from api.query.tests.factories import member_make
from api.tenancy.models import Organization


@pytest.fixture
def imported(owner, tenant) -> Conference:
    raw = (DUMPS / "call2p-30s-loss10.webrtc_internals_dump.txt").read_bytes()
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = upload(owner, tenant.app.pk, "loss10.txt", raw)
    assert answer.status == 201
    return Conference.objects.get(pk=answer.data["conference"])


def _streamed(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def _export(client: ApiClient, path: str, **params) -> tuple[int, str, bytes]:
    from urllib.parse import urlencode

    http: Any = client.client
    response = http.get(f"{path}?{urlencode(params)}" if params else path, **client.headers)
    body = _streamed(response) if response.status_code == 200 else response.content
    return response.status_code, response["Content-Type"], body


def _records(body: bytes) -> list[dict]:
    return [orjson.loads(line) for line in body.splitlines()]


def _by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


@pytest.mark.django_db
def test_the_jsonl_export_round_trips_to_what_the_api_answers(owner, imported):
    status, content_type, body = _export(owner, f"/v1/conferences/{imported.pk}/export")

    assert (status, content_type) == (200, "application/x-ndjson")
    records = _records(body)
    kinds = [r.pop("record") for r in records]
    assert kinds[0] == "call"
    # call, participants, connections, issues, then the metric rows.
    assert kinds == sorted(
        kinds, key=["call", "participant", "connection", "issue", "metric"].index
    )

    call = records[0]
    detail = owner.get(f"/v1/conferences/{imported.pk}").data
    assert call.pop("imported") == "webrtc-internals"
    assert call == {key: detail[key] for key in call}
    # (the verdict is computed from the issues, which are records of their own)
    assert set(detail) - set(call) == {"participants", "issues", "verdict"}

    def of(kind: str) -> list[dict]:
        return [r for r, k in zip(records, kinds, strict=True) if k == kind]

    participants = of("participant")
    assert {p.pop("call") for p in participants} == {str(imported.pk)}
    api_participants = owner.get("/v1/participants", conferenceId=str(imported.pk)).data
    assert _by_id(participants) == _by_id(api_participants)
    api_connections = owner.get("/v1/connections", conferenceId=str(imported.pk)).data
    assert _by_id(of("connection")) == _by_id(api_connections) and len(api_connections) == 2
    api_issues = owner.get("/v1/issues", conferenceId=str(imported.pk)).data
    assert _by_id(of("issue")) == _by_id(api_issues) and api_issues

    metrics = of("metric")
    assert len(metrics) == TrackMetric.objects.filter(connection__conference=imported).count()
    row = next(
        m
        for m in metrics
        if m["kind"] == "audio" and m["direction"] == "inbound" and m["interval_s"]
    )
    assert {
        "call",
        "participant",
        "peer",
        "connection",
        "track",
        "created_at",
        "loss_pct",
        "mos",
    } <= set(row)
    assert 5 <= row["loss_pct"] <= 15


@pytest.mark.django_db
def test_the_csv_export_has_one_row_per_track_metric_with_call_and_connection_columns(
    owner, imported
):
    status, content_type, body = _export(
        owner, f"/v1/conferences/{imported.pk}/export", format="csv"
    )

    assert (status, content_type) == (200, "text/csv; charset=utf-8")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == TrackMetric.objects.filter(connection__conference=imported).count()
    assert {r["call"] for r in rows} == {str(imported.pk)}
    assert {r["conference_id"] for r in rows} == {imported.conference_id}
    lossy = [float(r["loss_pct"]) for r in rows if r["direction"] == "inbound" and r["loss_pct"]]
    assert lossy and max(lossy) > 5


@pytest.mark.django_db
def test_the_command_writes_the_same_bytes_as_the_api(owner, imported, tmp_path):
    _, _, api_body = _export(owner, f"/v1/conferences/{imported.pk}/export")
    target = tmp_path / "out.jsonl"

    call_command("export", conference=str(imported.pk), output=str(target))

    assert target.read_bytes() == api_body


@pytest.mark.django_db
def test_an_apps_calls_are_exported_within_the_time_range(owner, tenant, imported):
    Conference.objects.filter(pk=imported.pk).update(
        created_at=imported.created_at - timedelta(days=3)
    )
    raw = (DUMPS / "call2p-30s-clean.rtcstats_dump.gz").read_bytes()
    second = upload(owner, tenant.app.pk, "clean.gz", raw).data["conference"]
    recent = (imported.created_at - timedelta(days=1)).isoformat()

    _, _, everything = _export(owner, f"/v1/apps/{tenant.app.pk}/export")
    _, _, later = _export(owner, f"/v1/apps/{tenant.app.pk}/export", start=recent)
    _, _, earlier = _export(owner, f"/v1/apps/{tenant.app.pk}/export", end=recent)

    def calls(body: bytes) -> list[str]:
        return [r["id"] for r in _records(body) if r["record"] == "call"]

    assert calls(everything) == [str(imported.pk), second]
    assert calls(later) == [second]
    assert calls(earlier) == [str(imported.pk)]
    status, _, _ = _export(owner, f"/v1/apps/{tenant.app.pk}/export", start=recent, end=recent)
    assert status == 400


@pytest.mark.django_db
def test_exports_are_scoped_to_the_callers_organizations(imported, tenant):
    stranger = ApiClient(member_make(Organization.objects.create(name="Globex"), "owner"))

    assert _export(stranger, f"/v1/conferences/{imported.pk}/export")[0] == 404
    assert _export(stranger, f"/v1/apps/{tenant.app.pk}/export")[0] == 404
    assert _export(ApiClient(), f"/v1/conferences/{imported.pk}/export")[0] == 401
    # A member may export.
    assert _export(ApiClient(tenant.member), f"/v1/conferences/{imported.pk}/export")[0] == 200
    assert Issue.objects.exists()
