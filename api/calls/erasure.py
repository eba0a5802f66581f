"""Erasing a participant, and calls past their app's retention: every row
that names them goes, through the foreign keys (sessions, connections to
and from them, tracks, events, stats samples, metrics, issues, all
``on_delete=CASCADE``), in one transaction. What was removed is returned,
counted per kind of row, for the caller to report.

Deletion goes through the ORM's collector: it knows the relations of the
apps above this one (events, quality) without this module importing them.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from api.calls.models import Conference, Participant
from api.common import time as clock
from api.tenancy.models import App


def _removed(per_model: dict[str, int]) -> dict[str, int]:
    return {label: count for label, count in sorted(per_model.items()) if count}


@transaction.atomic
def participant_erase(*, participant: Participant) -> dict[str, int]:
    """Delete the participant and everything that names them: their
    sessions and all that hangs from those, the connections others had
    to them (with those connections' events, samples and metrics), their
    issues and their place in conferences. Returns rows removed per model
    label (``"events.GenericEvent": 12``). Not undoable."""
    _, per_model = participant.delete()
    return _removed(per_model)


def conferences_past_retention_delete(*, at=None, batch: int = 200) -> dict[str, int]:
    """For every app with ``retention_days``, delete its conferences
    created before that many days ago, with all their data. Idempotent;
    runs in batches (one transaction each) so a backlog does not hold one
    long transaction. Returns rows removed per model label."""
    at = at or clock.now()
    totals: dict[str, int] = {}
    for app_id, days in App.objects.filter(retention_days__isnull=False).values_list(
        "pk", "retention_days"
    ):
        cutoff = at - timedelta(days=days or 0)
        while True:
            ids = list(
                Conference.objects.filter(app_id=app_id, created_at__lt=cutoff).values_list(
                    "pk", flat=True
                )[:batch]
            )
            if not ids:
                break
            with transaction.atomic():
                _, per_model = Conference.objects.filter(pk__in=ids).delete()
            for label, count in per_model.items():
                totals[label] = totals.get(label, 0) + count
    return _removed(totals)
