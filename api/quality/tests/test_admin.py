from __future__ import annotations

from datetime import timedelta

import pytest

from api.calls.models import Connection
from api.common.tests.admin_pages import (
    admin_page_failures,
    change_url,
    changelist_url,
    record_call,
    unbounded_counts,
)
from api.quality.models import Issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def issues(sdk, app, monkeypatch, captured_call) -> list[Issue]:
    """A real call, with one resolved and one open issue on a connection."""
    record_call(sdk, monkeypatch, captured_call)
    connection = Connection.objects.order_by("created_at").first()
    assert connection is not None
    common = {
        "app": app,
        "conference": connection.conference,
        "session": connection.session,
        "participant": connection.participant,
        "connection": connection,
        "subject": f"connection:{connection.pk}",
    }
    resolved = Issue.objects.create(
        **common,
        type="warning",
        code="high_packet_loss",
        data={"samples": [{"loss": 0.04}, {"loss": 0.05}], "note": "<b>not markup</b>"},
        peak_value=0.05,
        created_at=connection.start_time + timedelta(seconds=5),
        resolved_at=connection.start_time + timedelta(seconds=12),
    )
    open_issue = Issue.objects.create(
        **common,
        type="error",
        code="ice_failed",
        data=None,
        created_at=connection.start_time + timedelta(seconds=20),
    )
    return [resolved, open_issue]


def test_every_issue_admin_page_answers(admin_client, issues):
    # Given a real call with issues
    # When every list, filter, search and change page is visited
    failures = admin_page_failures(admin_client, Issue)

    # Then all answer 200
    assert failures == []


def test_issues_are_filtered_by_code_and_by_being_resolved(admin_client, issues):
    # Given a resolved and an open issue
    resolved, open_issue = issues

    # When the list is filtered by a code, and by "resolved at: empty"
    by_code = admin_client.get(changelist_url(Issue), {"code": "ice_failed"})
    still_open = admin_client.get(changelist_url(Issue), {"resolved_at__isempty": "1"})

    # Then each filter keeps the matching issue only, and the codes are offered
    assert list(by_code.context["cl"].result_list) == [open_issue]
    assert list(still_open.context["cl"].result_list) == [open_issue]
    assert "?code=high_packet_loss" in by_code.content.decode()


def test_an_issue_page_shows_its_evidence_escaped_and_its_duration(admin_client, issues):
    # Given a resolved issue whose evidence holds text that looks like markup
    resolved, _ = issues

    # When its page is opened
    page = admin_client.get(change_url(resolved)).content.decode()

    # Then the evidence is indented JSON, escaped; the duration is 12 s - 5 s;
    # the connection is a link
    assert "&quot;loss&quot;: 0.04" in page
    assert "&lt;b&gt;not markup&lt;/b&gt;" in page and "<b>not markup</b>" not in page
    assert '<div class="readonly">7.0</div>' in page
    assert change_url(resolved.connection) in page


def test_issues_are_read_only(admin_client, issues):
    # Then adding and editing are refused: detectors write issues
    assert admin_client.get("/admin/quality/issue/add/").status_code == 403
    assert admin_client.post(change_url(issues[0]), {"code": "x"}).status_code == 403


def test_the_issue_list_never_counts_the_whole_table(admin_client, issues):
    url = changelist_url(Issue)

    # When the list is opened plain, filtered, searched, and with facet counts asked for
    queries = [
        *unbounded_counts(admin_client, url),
        *unbounded_counts(admin_client, url, code="ice_failed"),
        *unbounded_counts(admin_client, url, q="ice_failed"),
        *unbounded_counts(admin_client, url, _facets="1"),
    ]

    # Then every COUNT it runs stops at a LIMIT
    assert queries == []
