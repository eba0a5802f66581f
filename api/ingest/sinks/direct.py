"""The direct sink (``INGEST_SINK=direct``, the default; SQLite and small
installs): the sample is analysed and stored in the request. Hot path.

The pipeline of one sample, top to bottom:

1. authorise: read the connection (one SELECT) and check that it is an
   open connection of the token's session (and that its app may record);
   the report's candidate addresses scrubbed as its app says
   (api.events.privacy);
2. analyse (pure): the report's per-track metric rows
   (:func:`api.quality.analysis.sample_analyse`), with the ids of the
   tracks it names (created on first sight);
3. store: on PostgreSQL one statement inserts the sample and, if it is new,
   its metric rows (one round trip: it costs ~70 µs of CPU on either side
   here, and a transaction took five); on SQLite one transaction of two
   INSERTs. A retry of a stored sample stores nothing;
4. only for a new sample: the connection type it shows, and the live
   detectors (:func:`api.quality.analysis.sample_detect`).
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from api.common import metrics
from api.events.writer import (
    SampleRow,
    rows_insert,
    sample_prepare,
    sample_with_rows_insert,
    samples_insert,
)
from api.ingest import budget
from api.ingest.body import StatsSampleIn
from api.ingest.sinks.connections import (
    connection_owned,
    connection_state_read,
    connection_type_seen,
    report_private,
    sample_context,
)
from api.quality import analysis as quality
from api.quality.models import TrackMetric


class DirectSink:
    def accept(self, sample: StatsSampleIn) -> None:
        """Store one sample (see the module docstring). Raises
        ``connection_not_found``, ``connection_ended``; database errors
        propagate (the view answers 503 and the SDK retries). Idempotent: a
        retry stores and detects nothing."""
        state = connection_owned(connection_state_read(sample.connection_id), sample.session_id)
        data, raw = report_private(state.app_id, sample.raw)
        row = SampleRow(
            app_id=state.app_id,
            conference_id=state.conference_id,
            connection_id=sample.connection_id,
            created_at=sample.at,
        )
        prepared = sample_prepare(row=row, raw_report=raw)
        context = sample_context(
            state=state,
            connection_id=sample.connection_id,
            sample_id=prepared.id,
            at=sample.at,
            data=data,
        )
        with quality.connection_locked(sample.connection_id):
            analysis = quality.sample_analyse(context=context, data=data)
            if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
                new = sample_with_rows_insert(
                    prepared,
                    model=TrackMetric,
                    columns=quality.METRIC_COLUMNS,
                    rows=analysis.metric_rows,
                )
            else:
                # One transaction: one commit (one WAL flush) per request
                # instead of one per statement. No savepoint: if anything
                # fails the request fails and the SDK retries it.
                with transaction.atomic(savepoint=False):
                    new = bool(samples_insert([prepared]))
                    if new:
                        rows_insert(
                            model=TrackMetric,
                            columns=quality.METRIC_COLUMNS,
                            rows=analysis.metric_rows,
                        )
            (metrics.STATS_STORED if new else metrics.STATS_DUPLICATES).inc()
            budget.stats_counted(state.app_id)
            if new:
                connection_type_seen(
                    state=state,
                    connection_id=sample.connection_id,
                    candidate_type=analysis.candidate_type,
                )
                quality.sample_detect(analysis)
