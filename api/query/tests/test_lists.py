"""The call lists: filters, the 30-day window, ordering, pagination and
the shapes of the reference (§0.4), with its broken cases (§9.1) fixed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.calls.models import Conference, ConferenceParticipant, Participant, Session
from api.common.time import iso, now
from api.quality.models import Issue
from api.query.tests.conftest import ApiClient

CONFERENCE_KEYS = {
    "id",
    "conference_id",
    "conference_name",
    "conference_info",
    "start_time",
    "call_start",
    "end_time",
    "ongoing",
    "duration",
    "app",
    "created_at",
}
SESSION_KEYS = {
    "id",
    "conference",
    "participant",
    "devices",
    "platform",
    "metadata",
    "geo_ip",
    "app_version",
    "webrtc_sdk",
    "session_info",
    "duration",
    "end_time",
    "call_start",
    "created_at",
    "issues",
}


def _conference(app, name: str, *, days_ago: float = 0, duration: int = 0) -> Conference:
    conference = Conference.objects.create(app=app, conference_id=name, duration=duration)
    Conference.objects.filter(pk=conference.pk).update(created_at=now() - timedelta(days=days_ago))
    conference.refresh_from_db()
    return conference


# --------------------------------------------------------------- conferences


@pytest.mark.django_db
def test_the_conference_list_carries_flags_and_counts(acme, globex):
    # given a conference nobody joined with a session
    empty = _conference(acme.app, "empty-room")

    answer = ApiClient(acme.member).get("/v1/conferences")

    assert answer.status == 200
    by_id = {c["conference_id"]: c for c in answer.data}
    assert set(by_id) == {"acme-room", "empty-room"}
    assert set(by_id["acme-room"]) == CONFERENCE_KEYS | {
        "has_errors",
        "has_warnings",
        "participants_count",
    }
    assert by_id["acme-room"]["has_errors"] is True
    assert by_id["acme-room"]["has_warnings"] is True
    assert by_id["acme-room"]["participants_count"] == 2
    assert by_id["acme-room"]["app"] == str(acme.app.pk)
    assert by_id["acme-room"]["start_time"] == iso(acme.conference.start_time)
    # 0, not null as the original answered
    assert by_id["empty-room"]["participants_count"] == 0
    assert by_id["empty-room"]["has_errors"] is False
    assert str(empty.pk) == by_id["empty-room"]["id"]


@pytest.mark.django_db
def test_participants_count_leaves_out_sfus_and_peers_without_a_session(acme):
    # given an SFU with a session, and a peer linked without one
    sfu = Participant.objects.create(app=acme.app, participant_id="sfu-1", is_sfu=True)
    lurker = Participant.objects.create(app=acme.app, participant_id="lurker")
    for participant in (sfu, lurker):
        ConferenceParticipant.objects.create(conference=acme.conference, participant=participant)
    Session.objects.create(
        app=acme.app, conference=acme.conference, participant=sfu, created_at=now()
    )
    # and a second session of alice (a rejoin)
    Session.objects.create(
        app=acme.app, conference=acme.conference, participant=acme.participants[0], created_at=now()
    )

    answer = ApiClient(acme.member).get("/v1/conferences")

    assert answer.data[0]["participants_count"] == 2


@pytest.mark.django_db
def test_the_conference_list_shows_30_days_unless_told_otherwise(acme):
    old = _conference(acme.app, "old-room", days_ago=45)
    client = ApiClient(acme.member)

    default = client.get("/v1/conferences")
    bounded = client.get("/v1/conferences", created_at_gte=iso(now() - timedelta(days=60)))
    by_participant = client.get("/v1/conferences", conference_ids=f"{old.pk},{acme.conference.pk}")

    assert [c["conference_id"] for c in default.data] == ["acme-room"]
    assert [c["conference_id"] for c in bounded.data] == ["old-room", "acme-room"]
    assert {c["conference_id"] for c in by_participant.data} == {"old-room", "acme-room"}


@pytest.mark.django_db
def test_created_at_bounds_without_offset_are_utc_and_dates_work(acme):
    client = ApiClient(acme.member)
    tomorrow = (now() + timedelta(days=1)).date().isoformat()

    before_tomorrow = client.get("/v1/conferences", created_at_lt=tomorrow)
    after_tomorrow = client.get("/v1/conferences", created_at_gte=f"{tomorrow}T00:00:00")

    assert len(before_tomorrow.data) == 1
    assert after_tomorrow.data == []


@pytest.mark.django_db
def test_conference_filters(acme):
    short = _conference(acme.app, "short-room", duration=30)
    ConferenceParticipant.objects.create(conference=short, participant=acme.participants[1])
    client = ApiClient(acme.member)

    def ids(**params):
        answer = client.get("/v1/conferences", **params)
        assert answer.status == 200, answer
        return [c["conference_id"] for c in answer.data]

    assert ids(duration_gte="60") == ["acme-room"]
    assert ids(duration_lt="60") == ["short-room"]
    assert ids(participantId=str(acme.participants[1].pk)) == ["acme-room", "short-room"]
    assert ids(participantId=str(acme.participants[0].pk)) == ["acme-room"]
    assert ids(issue_code="turn_used") == ["acme-room"]
    assert ids(issue_code="ice_failed") == []
    assert ids(appId=str(acme.app.pk), ongoing="false") == ["acme-room", "short-room"]
    assert ids(ongoing="true") == []
    assert ids(conference_ids=str(short.pk)) == ["short-room"]
    assert ids(ordering="-created_at") == ["short-room", "acme-room"]


@pytest.mark.django_db
def test_conference_pages(acme):
    for n in range(5):
        _conference(acme.app, f"room-{n}", days_ago=(5 - n) / 100)
    client = ApiClient(acme.member)

    first = client.get("/v1/conferences", limit="2")
    third = client.get("/v1/conferences", limit="2", offset="4")
    offset_only = client.get("/v1/conferences", offset="5")

    assert first.json["count"] == 6
    assert [c["conference_id"] for c in first.json["results"]] == ["room-0", "room-1"]
    assert [c["conference_id"] for c in third.json["results"]] == ["room-4", "acme-room"]
    assert [c["conference_id"] for c in offset_only.json["results"]] == ["acme-room"]
    assert "data" not in first.json


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("limit", "offset", "expected_size"),
    [("0", "0", 1), ("-5", "0", 1), ("1000", "0", 3), (None, "-3", 3)],
)
def test_limit_and_offset_are_clamped(acme, limit, offset, expected_size):
    for n in range(2):
        _conference(acme.app, f"room-{n}")
    params = {"offset": offset} | ({"limit": limit} if limit is not None else {})

    answer = ApiClient(acme.member).get("/v1/conferences", **params)

    assert answer.status == 200
    assert len(answer.json["results"]) == expected_size
    assert answer.json["count"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/conferences", {"appId": "not-a-uuid"}),
        ("/v1/conferences", {"participantId": "123"}),
        ("/v1/conferences", {"conference_ids": "a,b"}),
        ("/v1/conferences", {"created_at_gt": "yesterday"}),
        ("/v1/conferences", {"created_at_lte": "2024-13-45"}),
        ("/v1/conferences", {"created_at_lt": "1700000000"}),
        ("/v1/conferences", {"created_at_gte": "0001-01-01T00:00:00+05:00"}),
        ("/v1/conferences", {"duration_gte": "ten"}),
        ("/v1/conferences", {"duration_lt": "99999999999999999999"}),
        ("/v1/conferences", {"limit": "many"}),
        ("/v1/conferences", {"offset": "1.5"}),
        ("/v1/conferences", {"ordering": "name"}),
        ("/v1/conferences", {"ongoing": "perhaps"}),
        ("/v1/sessions", {"conferenceId": "x"}),
        ("/v1/participants", {"conferenceId": "00000000-0000-0000-0000"}),
        ("/v1/connections", {"sessionId": "x"}),
        ("/v1/issues", {"type": "fatal"}),
        ("/v1/events/browser", {"conferenceId": "x"}),
        ("/v1/conferences/summary", {"appId": "x"}),
        ("/v1/search", {"query": ""}),
        ("/v1/search", {"query": "x" * 65}),
        ("/v1/search", {}),
    ],
)
def test_malformed_filters_are_a_400_not_a_500(acme, path, params):
    answer = ApiClient(acme.member).get(path, **params)

    assert answer.status == 400, answer
    assert answer.json["error_code"] == "invalid_parameters"
    assert answer.json["message"]


@pytest.mark.django_db
def test_a_filter_naming_an_unknown_object_is_a_404(acme):
    answer = ApiClient(acme.member).get(
        "/v1/conferences", appId="00000000-0000-0000-0000-000000000000"
    )

    assert answer.status == 404


@pytest.mark.django_db
def test_conference_detail_lists_participants_and_issues(acme):
    answer = ApiClient(acme.member).get(f"/v1/conferences/{acme.conference.pk}")

    data = answer.data
    assert set(data) == CONFERENCE_KEYS | {"participants", "issues", "verdict"}
    assert data["participants"] == [str(p.pk) for p in acme.participants]
    # oldest first: the getUserMedia error was raised before the TURN warning
    assert data["issues"] == [str(acme.issues[1].pk), str(acme.issues[0].pk)]
    # the verdict, in words: the TURN relay is information, not a fault
    verdict = data["verdict"]
    assert set(verdict) == {"level", "text", "causes", "participants"}
    assert verdict["level"] in {"fair", "poor"}
    assert "Problem accessing media" in verdict["text"]
    assert [c["issue"] for c in verdict["causes"]] == [str(acme.issues[1].pk)]


@pytest.mark.django_db
def test_a_malformed_id_in_a_path_is_a_json_404(acme):
    answer = ApiClient(acme.member).get("/v1/conferences/not-a-uuid")

    assert answer.status == 404
    assert answer.json["error_code"] == "not_found"


# ------------------------------------------------------------------ sessions


@pytest.mark.django_db
def test_sessions_of_a_conference_without_constraints_with_issue_ids(acme):
    answer = ApiClient(acme.member).get("/sessions", conferenceId=str(acme.conference.pk))

    assert answer.status == 200
    first, second = answer.data
    assert set(first) == SESSION_KEYS
    assert first["id"] == str(acme.sessions[0].pk)
    assert first["issues"] == [str(acme.issues[1].pk)]
    assert second["issues"] == [str(acme.issues[0].pk)]
    assert first["platform"]["browser"]["name"] == "Chrome"


@pytest.mark.django_db
def test_sessions_of_an_old_conference_are_shown_when_asked_for_by_conference(acme):
    # The 30-day window applies to app-wide lists, not to a conference's page.
    Session.objects.filter(conference=acme.conference).update(created_at=now() - timedelta(days=90))
    client = ApiClient(acme.member)

    by_conference = client.get("/v1/sessions", conferenceId=str(acme.conference.pk))
    by_app = client.get("/v1/sessions", appId=str(acme.app.pk))

    assert len(by_conference.data) == 2
    assert by_app.data == []


@pytest.mark.django_db
def test_sessions_by_participant(acme):
    answer = ApiClient(acme.member).get(
        "/v1/sessions", participantId=str(acme.participants[1].pk), limit="10"
    )

    assert [s["id"] for s in answer.json["results"]] == [str(acme.sessions[1].pk)]


# ---------------------------------------------------- participants and more


@pytest.mark.django_db
def test_participants_of_a_conference(acme):
    outsider = Participant.objects.create(app=acme.app, participant_id="elsewhere")
    client = ApiClient(acme.member)

    of_conference = client.get("/v1/participants", conferenceId=str(acme.conference.pk))
    of_app = client.get("/v1/participants", appId=str(acme.app.pk))
    one = client.get(f"/v1/participants/{acme.participants[0].pk}")

    assert [p["participant_id"] for p in of_conference.data] == ["acme-alice", "acme-bob"]
    assert str(outsider.pk) in {p["id"] for p in of_app.data}
    assert set(one.data) == {
        "id",
        "participant_id",
        "participant_name",
        "is_sfu",
        "app",
        "created_at",
    }


@pytest.mark.django_db
def test_connections_of_a_session_with_type_labels(acme):
    client = ApiClient(acme.member)

    listed = client.get("/v1/connections", sessionId=str(acme.sessions[1].pk))
    one = client.get(f"/v1/connections/{acme.connections[0].pk}")

    assert [c["type"] for c in listed.data] == ["relay"]
    assert listed.data[0]["peer"] == str(acme.participants[0].pk)
    assert set(one.data) == {
        "id",
        "session",
        "conference",
        "participant",
        "peer",
        "type",
        "state",
        "connection_info",
        "start_time",
        "end_time",
        "duration",
        "created_at",
    }
    assert one.data["type"] == "host"


@pytest.mark.django_db
def test_issues_with_titles_intervals_and_filters(acme):
    client = ApiClient(acme.member)

    listed = client.get("/v1/issues", conferenceId=str(acme.conference.pk))
    errors = client.get("/v1/issues", appId=str(acme.app.pk), type="error")
    by_code = client.get("/v1/issues", code="turn_used")
    one = client.get(f"/v1/issues/{acme.issues[1].pk}")

    assert [i["code"] for i in listed.data] == ["getusermedia_error", "turn_used"]
    assert [i["code"] for i in errors.data] == ["getusermedia_error"]
    assert [i["code"] for i in by_code.data] == ["turn_used"]
    issue = one.data
    assert issue["title"] == "Problem accessing media"
    assert issue["type"] == "error"
    assert issue["resolved_at"] == iso(acme.issues[1].resolved_at)
    assert issue["duration"] == 3.0
    assert issue["peak_value"] == 1.0
    assert listed.data[1]["resolved_at"] is None and listed.data[1]["duration"] is None


@pytest.mark.django_db
def test_issues_without_a_conference_are_listed_by_app(acme):
    # The original could not show them (it reached issues through conferences).
    Issue.objects.create(
        app=acme.app,
        session=acme.sessions[0],
        type=Issue.Type.WARNING,
        code="icecandidateerror",
        subject="ice",
        created_at=now(),
    )

    answer = ApiClient(acme.member).get("/v1/issues", appId=str(acme.app.pk))

    assert "icecandidateerror" in {i["code"] for i in answer.data}
    unknown = next(i for i in answer.data if i["code"] == "icecandidateerror")
    assert unknown["title"] == "ICE candidate error"
