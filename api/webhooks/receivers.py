"""Quality tells what happened (api.quality.signals); the webhooks of the
app hear of it (api.webhooks.services.event_emit: nothing for an app
without endpoints)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from api.common.time import iso
from api.quality.signals import conference_closed, issue_changed
from api.webhooks.services import event_emit


@receiver(issue_changed)
def _issue_changed(
    sender: Any, *, action: str, scope: Any, code: str, subject: str, at: Any, **extra: Any
) -> None:
    event_emit(
        app_id=scope.app_id,
        type="issue.raised" if action == "raised" else "issue.resolved",
        data={
            "code": code,
            "subject": subject,
            "conference": str(scope.conference_id) if scope.conference_id else None,
            "at": iso(at),
        },
        at=at,
    )


@receiver(conference_closed)
def _conference_closed(sender: Any, *, conference: Any, at: Any, **extra: Any) -> None:
    event_emit(
        app_id=conference.app_id,
        type="conference.ended",
        data={"conference": str(conference.pk)},
        at=at,
    )
