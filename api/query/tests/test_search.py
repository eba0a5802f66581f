"""Search: scoped to the caller's organizations, each thing once."""

from __future__ import annotations

import pytest

from api.calls.models import Conference
from api.query.tests.conftest import ApiClient


def _search(tenant, query: str) -> list[dict]:
    answer = ApiClient(tenant.member).get("/v1/search", query=query)
    assert answer.status == 200, answer
    return answer.json["matches"]


@pytest.mark.django_db
def test_search_finds_conferences_participants_apps_and_organizations(acme):
    matches = _search(acme, "acme")

    kinds = {(m["type"], m["name"]) for m in matches}
    assert ("conference", "acme weekly sync") in kinds
    assert ("participant", "acme alice") in kinds
    assert ("app", "acme app") in kinds
    assert ("organization", "acme org") in kinds
    conference = next(m for m in matches if m["type"] == "conference")
    assert conference == {
        "name": "acme weekly sync",
        "id": "acme-room",
        "url": f"/conference/{acme.conference.pk}",
        "type": "conference",
    }


@pytest.mark.django_db
def test_search_never_shows_another_tenants_things(acme, globex):
    # given globex has a conference named like acme's
    Conference.objects.create(
        app=globex.app, conference_id="acme-room", conference_name="acme weekly sync"
    )

    matches = _search(acme, "acme weekly sync") + _search(acme, "globex")

    assert all(str(globex.app.pk) not in m["url"] for m in matches)
    assert not any("globex" in (m["name"] or "") for m in matches)
    urls = {m["url"] for m in matches}
    assert f"/conference/{acme.conference.pk}" in urls


@pytest.mark.django_db
def test_a_thing_matching_on_two_fields_is_listed_once(acme):
    # "acme-room" matches the conference's id and (nearly) its name
    Conference.objects.filter(pk=acme.conference.pk).update(conference_name="acme-room")

    matches = _search(acme, "acme-room")

    urls = [m["url"] for m in matches]
    assert urls.count(f"/conference/{acme.conference.pk}") == 1
    assert matches[0]["url"] == f"/conference/{acme.conference.pk}"


@pytest.mark.django_db
def test_search_by_participant_id(acme):
    matches = _search(acme, "acme-bob")

    assert matches[0] == {
        "name": "acme bob",
        "id": "acme-bob",
        "url": f"/participant/{acme.participants[1].pk}",
        "type": "participant",
    }


@pytest.mark.django_db
def test_search_with_nothing_matching_is_empty(acme):
    assert _search(acme, "zzzzqqqq") == []


@pytest.mark.django_db
def test_deleted_apps_are_not_searched(acme):
    acme.app.is_active = False
    acme.app.save()

    matches = _search(acme, "acme")

    assert {m["type"] for m in matches} == {"organization"}


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_search_tolerates_typos_by_trigram_similarity(acme):
    # no substring of the name, but close in trigrams
    matches = _search(acme, "weekli synk acme")

    assert matches and matches[0]["url"] == f"/conference/{acme.conference.pk}"
