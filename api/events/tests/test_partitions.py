"""Daily partitions (PostgreSQL) and retention (both databases)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection as db

from api.events.models import StatsSample
from api.events.partitioning import SAMPLES, is_partitioned, partitions_list
from api.ingest.tests.fake_sdk import stats_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(page):
    alice = page("alice").join()
    page("bob").join()
    return alice, alice.add_connection("bob")


def _rows_in(table: str) -> int:
    with db.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_samples_and_metrics_are_partitioned_by_day_on_postgresql():
    from api.quality.models import METRIC_PARTITIONS

    assert is_partitioned(SAMPLES) and is_partitioned(METRIC_PARTITIONS)


@pytest.mark.postgres
def test_a_new_days_partition_takes_over_that_days_rows_from_the_default(link, clock):
    # Given a sample stored before its day had a partition (in the default one)
    alice, connection = link
    assert alice.stats(connection, stats_report()).status == 200
    assert _rows_in("events_statssample_default") == 1

    # When maintenance makes the partitions around today
    call_command("maintain_partitions", "--ahead", "2", stdout=StringIO())

    # Then the row moved into its day's partition, still readable as before
    today = clock.now.date()
    assert _rows_in("events_statssample_default") == 0
    assert _rows_in(f"events_statssample_p{today:%Y%m%d}") == 1
    assert StatsSample.objects.get().data["connection"]["type"] == "candidate-pair"
    days = [day for _, day in partitions_list(SAMPLES)]
    assert days == [today + timedelta(days=d) for d in range(-1, 3)]


@pytest.mark.postgres
def test_days_past_the_retention_are_dropped_whole(link, clock):
    # Given a sample of yesterday in yesterday's partition
    alice, connection = link
    today = clock.now.date()
    call_command("maintain_partitions", "--ahead", "0", stdout=StringIO())
    clock.advance(days=-1)
    assert alice.stats(connection, stats_report()).status == 200
    clock.advance(days=1)

    # When maintenance runs with retention off, then with one day kept
    call_command("maintain_partitions", "--ahead", "0", "--retention-days", "0", stdout=StringIO())
    assert StatsSample.objects.count() == 1
    call_command("maintain_partitions", "--ahead", "0", "--retention-days", "1", stdout=StringIO())

    # Then yesterday's partition is gone with its rows, today's stays
    assert [day for _, day in partitions_list(SAMPLES)] == [today]
    assert StatsSample.objects.count() == 0


def test_a_dry_run_changes_nothing(link, clock):
    alice, connection = link
    clock.advance(days=-40)
    assert alice.stats(connection, stats_report()).status == 200
    clock.advance(days=40)

    call_command("maintain_partitions", "--retention-days", "30", "--dry-run", stdout=StringIO())

    assert StatsSample.objects.count() == 1


def test_on_sqlite_retention_deletes_old_rows(link, clock):
    if db.vendor == "postgresql":
        pytest.skip("PostgreSQL drops whole partitions (tested above)")
    alice, connection = link
    clock.advance(days=-40)
    report = stats_report()
    assert alice.stats(connection, report).status == 200
    clock.advance(days=40)
    report = {**report, "connection": {**report["connection"], "timestamp": 1}}
    assert alice.stats(connection, report).status == 200

    out = StringIO()
    call_command("maintain_partitions", "--retention-days", "30", stdout=out)

    assert StatsSample.objects.count() == 1, out.getvalue()
    assert StatsSample.objects.get().created_at > clock.now - timedelta(days=1)
