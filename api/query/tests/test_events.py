"""Event lists: a conference's events with its stats samples, and the GET
side of the SDK's event routes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.events.models import GenericEvent
from api.query.tests.conftest import ApiClient
from api.query.tests.factories import event_make, sample_make, stats_report

EVENT_KEYS = {
    "id",
    "conference",
    "participant",
    "peer",
    "session",
    "connection",
    "track",
    "app",
    "type",
    "category",
    "data",
    "created_at",
}


def _events_path(tenant) -> str:
    return f"/v1/conferences/{tenant.conference.pk}/events"


@pytest.mark.django_db
def test_a_conferences_events_include_its_stats_samples_in_time_order(acme):
    answer = ApiClient(acme.member).get(_events_path(acme))

    events = answer.json["results"]
    assert len(events) == len(acme.events) + len(acme.samples) == 12
    assert all(set(e) == EVENT_KEYS for e in events)
    times = [e["created_at"] for e in events]
    assert times == sorted(times)
    assert [e["type"] for e in events[:4]] == [
        "getUserMedia",
        "getUserMedia",
        "onconnectionstatechange",
        "onconnectionstatechange",
    ]
    stats = [e for e in events if e["type"] == "stats"]
    assert len(stats) == 6
    assert {e["category"] for e in stats} == {"stats"}
    # the report as the SDK sent it, decompressed
    first = stats[0]
    assert first["data"]["connection"]["bytesSent"] == 1000
    assert first["connection"] == str(acme.connections[0].pk)
    assert first["peer"] == str(acme.participants[1].pk)
    assert first["track"] is None


@pytest.mark.django_db
def test_type_minus_stats_leaves_the_samples_out_and_type_stats_keeps_only_them(acme):
    client = ApiClient(acme.member)

    without = client.get(_events_path(acme), type="-stats")
    only = client.get(_events_path(acme), type="stats")
    unloads = client.get(_events_path(acme), type="unload")
    not_unloads = client.get(_events_path(acme), type="-unload", offset="0")

    assert [e["type"] for e in without.json["results"]].count("stats") == 0
    assert len(without.json["results"]) == 6
    assert {e["type"] for e in only.json["results"]} == {"stats"} and len(only.json["results"]) == 6
    assert [e["type"] for e in unloads.json["results"]] == ["unload", "unload"]
    assert not_unloads.json["count"] == 10


@pytest.mark.django_db
@pytest.mark.parametrize("ordering", ["created_at", "-created_at"])
def test_pages_of_events_and_samples_add_up_to_the_whole_list(acme, ordering):
    # given the whole list, oldest or newest first
    client = ApiClient(acme.member)
    whole = [e["id"] for e in client.get(_events_path(acme), ordering=ordering).json["results"]]

    # when it is read in pages of 5
    pages = [
        client.get(_events_path(acme), limit="5", offset=str(offset), ordering=ordering).json
        for offset in (0, 5, 10)
    ]

    # then the pages are the list, cut, and each knows the total
    assert [e["id"] for page in pages for e in page["results"]] == whole
    assert {page["count"] for page in pages} == {12}
    assert [len(page["results"]) for page in pages] == [5, 5, 2]


@pytest.mark.django_db
def test_events_at_the_same_instant_keep_a_stable_order_across_pages(acme):
    # given events and samples all at one instant
    at = acme.conference.created_at + timedelta(minutes=5)
    for n in range(4):
        event_make(acme.sessions[0], type=f"custom{n}", category="browser", at=at)
        sample_make(acme.connections[0], at=at, report=stats_report(bytes_sent=90_000 + n))
    client = ApiClient(acme.member)

    whole = [e["id"] for e in client.get(_events_path(acme)).json["results"]]
    paged = [
        e["id"]
        for offset in range(0, 20, 3)
        for e in client.get(_events_path(acme), limit="3", offset=str(offset)).json["results"]
    ]

    assert paged == whole
    assert len(set(whole)) == 20


@pytest.mark.django_db
def test_an_offset_past_the_end_is_an_empty_page(acme):
    answer = ApiClient(acme.member).get(_events_path(acme), offset="500")

    assert answer.json == {"results": [], "count": 12}


@pytest.mark.django_db
def test_a_type_of_only_a_minus_sign_is_refused(acme):
    answer = ApiClient(acme.member).get(_events_path(acme), type="-")

    assert answer.status == 400
    assert answer.json["error_code"] == "invalid_parameters"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "category"),
    [
        ("/v1/events/browser", "browser"),
        ("/v1/events/get-user-media", "getUserMedia"),
        ("/v1/connection", "connection"),
        ("/events/browser", "browser"),
        ("/connection", "connection"),
    ],
)
def test_the_get_side_of_the_sdk_event_routes_lists_one_category(acme, path, category):
    answer = ApiClient(acme.member).get(path, conferenceId=str(acme.conference.pk))

    assert answer.status == 200, answer
    assert len(answer.json["results"]) == 2
    assert {e["category"] for e in answer.json["results"]} == {category}


@pytest.mark.django_db
def test_get_stats_lists_the_samples_of_a_participant(acme):
    answer = ApiClient(acme.member).get(
        "/v1/stats", participantId=str(acme.participants[1].pk), limit="2", offset="0"
    )

    assert answer.status == 200, answer
    assert answer.json["count"] == 3
    assert [e["data"]["connection"]["bytesSent"] for e in answer.json["results"]] == [1001, 2001]


@pytest.mark.django_db
def test_event_routes_filter_by_type_and_time(acme):
    client = ApiClient(acme.member)
    middle = acme.sessions[0].created_at + timedelta(seconds=30)

    unload_only = client.get(
        "/v1/events/browser", conferenceId=str(acme.conference.pk), type="unload"
    )
    early_connection = client.get(
        "/v1/connection",
        conferenceId=str(acme.conference.pk),
        created_at_lt=middle.isoformat().replace("+00:00", "Z"),
    )
    late_stats = client.get(
        "/v1/stats",
        conferenceId=str(acme.conference.pk),
        created_at_gte=middle.isoformat().replace("+00:00", "Z"),
    )

    assert len(unload_only.json["results"]) == 2
    assert len(early_connection.json["results"]) == 2
    # samples were taken at 10, 20 and 30 s
    assert [e["data"]["connection"]["bytesSent"] for e in late_stats.json["results"]] == [
        3000,
        3001,
    ]


@pytest.mark.django_db
def test_event_routes_need_a_conference_or_a_participant(acme):
    answer = ApiClient(acme.member).get("/v1/events/browser")

    assert answer.status == 400
    assert answer.json["error_code"] == "missing_parameters"


@pytest.mark.django_db
def test_posting_to_an_sdk_route_still_reaches_the_sdk(acme, sdk):
    # POST stays the SDK's: an event with a bad token is refused as before.
    answer = sdk.post("/v1/events/browser", {"token": "nope", "eventName": "custom"})

    assert answer.status == 401
    assert answer.json["error_code"] == "invalid_token"
    assert GenericEvent.objects.filter(type="custom").count() == 0


def test_event_lists_are_paged_by_key_by_default_and_the_pages_add_up(acme):
    # given the whole list, counted
    client = ApiClient(acme.owner)
    whole = [e["id"] for e in client.get(_events_path(acme), offset="0").json["results"]]

    # when it is read by key, five at a time, each page naming the next
    pages, answer = [], client.get(_events_path(acme), limit="5").json
    while True:
        assert set(answer) == {"results", "next"}
        pages.append([e["id"] for e in answer["results"]])
        if answer["next"] is None:
            break
        answer = client.get(_events_path(acme), limit="5", cursor=answer["next"]).json

    # then the pages are the list, cut
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [i for page in pages for i in page] == whole


@pytest.mark.django_db
def test_a_cursor_this_api_never_answered_is_a_400(acme):
    answer = ApiClient(acme.owner).get(_events_path(acme), cursor="bm90IGEgY3Vyc29y")

    assert answer.status == 400
    assert "'cursor'" in answer.json["message"]
