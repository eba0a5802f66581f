"""The overview aggregates (reference §5.3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.calls.models import Conference, Connection, Session
from api.common.time import iso, now
from api.quality.models import Issue
from api.query.tests.conftest import ApiClient


def _summary(tenant, name: str, **params):
    answer = ApiClient(tenant.member).get(f"/v1/{name}", appId=str(tenant.app.pk), **params)
    assert answer.status == 200, answer
    return answer.json


@pytest.mark.django_db
def test_conference_summary_classifies_each_day(acme, globex):
    # given, besides acme's call with an error, an ongoing one, a clean one
    # and one with a warning only
    Conference.objects.create(app=acme.app, conference_id="live", ongoing=True)
    Conference.objects.create(app=acme.app, conference_id="clean")
    warned = Conference.objects.create(app=acme.app, conference_id="warned")
    Issue.objects.create(
        app=acme.app,
        conference=warned,
        type=Issue.Type.WARNING,
        code="tcp_used",
        subject="w",
        created_at=now(),
    )

    body = _summary(acme, "conferences/summary")

    assert body == {
        "data": [
            {
                "date": now().date().isoformat(),
                "success": 1,
                "warning": 1,
                "error": 1,
                "ongoing": 1,
                "total": 4,
            }
        ]
    }


@pytest.mark.django_db
def test_duration_summary_has_twelve_buckets(acme):
    Conference.objects.create(app=acme.app, conference_id="long", duration=4000)

    data = _summary(acme, "conferences/duration-summary")["data"]

    assert len(data) == 12
    assert data[1] == {"range": "1 - 3 m", "min_sec": 60, "max_sec": 180, "count": 1}
    assert data[-1] == {"range": "> 60 m", "min_sec": 3600, "max_sec": None, "count": 1}
    assert sum(b["count"] for b in data) == 2


@pytest.mark.django_db
def test_participant_count_summary_counts_conferences_nobody_joined_under_zero(acme):
    Conference.objects.create(app=acme.app, conference_id="empty")

    body = _summary(acme, "conferences/participant-count-summary")

    assert body == {
        "data": [{"participants": 0, "conferences": 1}, {"participants": 2, "conferences": 1}],
        "total_conferences": 2,
    }


@pytest.mark.django_db
def test_issue_summaries(acme):
    issues = _summary(acme, "issues/summary")
    gum = _summary(acme, "issues/gum-summary")

    assert issues == {
        "data": [
            {"code": "getusermedia_error", "title": "Problem accessing media", "count": 1},
            {
                "code": "turn_used",
                "title": "Connection relayed through a TURN server",
                "count": 1,
            },
        ]
    }
    assert gum == {
        "data": [{"name": "NotAllowedError", "message": "Permission denied", "count": 1}],
        "total": 1,
    }


@pytest.mark.django_db
def test_connection_summaries(acme):
    # given a connection whose type is not known yet
    Connection.objects.create(
        app=acme.app,
        session=acme.sessions[0],
        conference=acme.conference,
        participant=acme.participants[0],
        peer=acme.participants[1],
        start_time=now(),
        connection_info={"negotiations": [{"status": "connecting", "start_time": iso(now())}]},
    )

    kinds = _summary(acme, "connections/summary")
    setup = _summary(acme, "connections/setup-time-summary")["data"]

    assert kinds == {"data": [{"name": "Direct", "count": 1}, {"name": "Relayed", "count": 1}]}
    assert len(setup) == 11
    # the factory's connections took 420 ms and 1320 ms to connect
    by_range = {b["range"]: b for b in setup}
    assert by_range["250 - 500 ms"]["count"] == 1
    assert by_range["1000 - 1500 ms"]["count"] == 1
    assert by_range["1000 - 1500 ms"]["conference_ids"] == [str(acme.conference.pk)]
    assert sum(b["count"] for b in setup) == 2


@pytest.mark.django_db
def test_session_summary(acme):
    Session.objects.create(
        app=acme.app,
        conference=acme.conference,
        participant=acme.participants[0],
        platform={"browser": {"name": "Firefox"}},
        geo_ip={"country_code": "DE", "city": "Berlin", "latitude": "52.5", "longitude": "13.4"},
        created_at=now(),
    )

    body = _summary(acme, "sessions/summary")

    assert body["browsers"] == [{"name": "Chrome", "count": 2}, {"name": "Firefox", "count": 1}]
    assert body["os"] == [{"name": "Linux", "count": 2}, {"name": "Unknown", "count": 1}]
    assert body["countries"] == [{"code": "FR", "count": 2}, {"code": "DE", "count": 1}]
    assert body["cities"] == [
        {"city": "Paris", "latitude": 48.85, "longitude": 2.35, "count": 2},
        {"city": "Berlin", "latitude": 52.5, "longitude": 13.4, "count": 1},
    ]


@pytest.mark.django_db
def test_summaries_cover_30_days_unless_bounded(acme):
    Conference.objects.filter(pk=acme.conference.pk).update(created_at=now() - timedelta(days=40))

    recent = _summary(acme, "conferences/duration-summary")
    bounded = _summary(
        acme, "conferences/duration-summary", created_at_gte=iso(now() - timedelta(days=50))
    )

    assert sum(b["count"] for b in recent["data"]) == 0
    assert sum(b["count"] for b in bounded["data"]) == 1


@pytest.mark.django_db
def test_summaries_without_an_app_cover_all_the_callers_apps_and_no_others(acme, globex):
    answer = ApiClient(acme.member).get("/v1/conferences/participant-count-summary")

    assert answer.json["total_conferences"] == 1
