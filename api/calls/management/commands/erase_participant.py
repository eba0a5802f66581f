from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from api.calls.erasure import participant_erase
from api.calls.models import Participant


class Command(BaseCommand):
    help = (
        "Erase one participant and every row that names them (sessions, connections, "
        "events, stats samples, metrics, issues), and say what was removed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("app", help="The app's id (UUID).")
        parser.add_argument("participant", help="The participant's id as the SDK sent it (userId).")

    def handle(self, *args, **options) -> None:
        try:
            app_id = uuid.UUID(options["app"])
        except ValueError as exc:
            raise CommandError("app must be the app's UUID") from exc
        participant = Participant.objects.filter(
            app_id=app_id, participant_id=options["participant"]
        ).first()
        if participant is None:
            raise CommandError("no such participant in that app")
        removed = participant_erase(participant=participant)
        for label, count in removed.items():
            self.stdout.write(f"{label}: {count}")
        self.stdout.write(f"erased: {sum(removed.values())} rows")
