from __future__ import annotations

import pytest
from django.urls import reverse

from api.calls.models import Connection
from api.common.admin import CappedCountPaginator
from api.common.tests.admin_pages import (
    admin_page_failures,
    change_url,
    changelist_url,
    record_call,
    unbounded_counts,
)
from api.events.admin import GenericEventAdmin
from api.events.models import GenericEvent, StatsSample

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(sdk, app, monkeypatch, captured_call):
    record_call(sdk, monkeypatch, captured_call)


@pytest.mark.parametrize("model", [GenericEvent, StatsSample])
def test_every_event_admin_page_answers(admin_client, recorded, model):
    # Given a real call stored through the SDK endpoints
    # When every list, filter, search and change page is visited
    failures = admin_page_failures(admin_client, model, max_rows=60)

    # Then all answer 200
    assert failures == []


def test_a_stats_sample_page_shows_the_report_decompressed_and_pretty_printed(
    admin_client, recorded
):
    # Given a stored sample (compressed bytes in the database)
    sample = StatsSample.objects.order_by("pk").first()
    report = sample.data

    # When its page is opened
    page = admin_client.get(change_url(sample)).content.decode()

    # Then the report is there as indented, escaped JSON, and the bytes are not
    inbound = report["audio"]["inbound"][0]
    assert f"&quot;trackIdentifier&quot;: &quot;{inbound['trackIdentifier']}&quot;" in page
    assert "&quot;audio&quot;: {\n    &quot;inbound&quot;: [" in page
    assert "bytes compressed" in page
    assert 'name="raw"' not in page and "<textarea" not in page


def test_an_event_page_shows_its_data_and_links_to_its_rows(admin_client, recorded):
    # Given a connection event
    event = GenericEvent.objects.filter(type="onconnectionstatechange").first()

    # When its page is opened
    page = admin_client.get(change_url(event)).content.decode()

    # Then its data is pretty-printed and its conference, session and connection are links
    assert "<pre" in page and "&quot;" in page
    for row in (event.conference, event.session, event.connection):
        assert change_url(row) in page


@pytest.mark.parametrize("model", [GenericEvent, StatsSample])
def test_event_lists_never_count_the_whole_table(admin_client, recorded, model):
    # Given the recorded call's connection
    connection = Connection.objects.first()
    url = changelist_url(model)

    # When the list is opened plain, filtered, searched, and with facet counts asked for
    queries = [
        *unbounded_counts(admin_client, url),
        *unbounded_counts(admin_client, url, connection__id__exact=connection.pk),
        *unbounded_counts(admin_client, url, q=str(connection.pk)),
        *unbounded_counts(admin_client, url, q="addConnection"),
        *unbounded_counts(admin_client, url, _facets="1"),
    ]

    # Then every COUNT it runs stops at a LIMIT
    assert queries == []


def test_an_event_list_longer_than_the_count_cap_says_more_than(
    admin_client, recorded, monkeypatch
):
    # Given more events than the cap, and pages shorter than it
    monkeypatch.setattr(CappedCountPaginator, "cap", 10)
    monkeypatch.setattr(GenericEventAdmin, "list_per_page", 4)
    assert GenericEvent.objects.count() > 10

    # When the list is opened
    response = admin_client.get(changelist_url(GenericEvent))

    # Then it does not claim a total, and still pages
    page = response.content.decode()
    assert "more than 10 generic events" in page
    assert "?p=2" in page
    # 11 counted rows: page 3 holds the last 3 of them, page 4 does not exist
    last_page = admin_client.get(changelist_url(GenericEvent), {"p": 3})
    assert len(last_page.context["cl"].result_list) == 3


def test_events_and_samples_are_read_only_but_deletable(admin_client, recorded):
    # Given a stored event and sample
    event = GenericEvent.objects.first()
    sample = StatsSample.objects.first()

    # Then they cannot be added or edited, and can be deleted
    for model, row in ((GenericEvent, event), (StatsSample, sample)):
        opts = model._meta
        add_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        delete_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk])
        assert admin_client.get(add_url).status_code == 403
        assert admin_client.post(change_url(row), {"type": "edited"}).status_code == 403
        assert admin_client.post(delete_url, {"post": "yes"}).status_code == 302
        assert not model.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", [GenericEvent, StatsSample])
def test_an_event_list_page_runs_a_few_queries_whatever_its_length(
    admin_client, recorded, model, django_assert_max_num_queries
):
    # When a list page showing every row of the call is opened (51 events, 8 samples)
    with django_assert_max_num_queries(6):
        response = admin_client.get(changelist_url(model))

    # Then the linked conference, session, connection and participants came
    # with the rows, not one query per row
    assert len(response.context["cl"].result_list) == min(50, model.objects.count())
