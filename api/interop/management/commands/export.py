"""``manage.py export``: a conference, or an app's calls in a time range,
as JSON Lines or CSV (docs/interop.md), streamed to a file or stdout."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from api.calls.models import Conference
from api.interop.export import batched, conferences_of_app, csv_lines, jsonl_lines
from api.tenancy.models import App


def _moment(text: str | None, name: str):
    if text is None:
        return None
    value = parse_datetime(text)
    if value is None:
        raise CommandError(f"--{name} must be an ISO 8601 date-time, not {text!r}.")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _uuid(text: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise CommandError(f"--{name} must be a UUID, not {text!r}.") from exc


class Command(BaseCommand):
    help = "Export calls as JSON Lines or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--conference", help="One conference (its id).")
        which.add_argument("--app", help="The app's calls (its id).")
        parser.add_argument("--start", help="With --app: calls created from (ISO 8601).")
        parser.add_argument("--end", help="With --app: calls created before (ISO 8601).")
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--output", "-o", help="A file (default: standard output).")

    def handle(self, *args, **options) -> None:
        if options["conference"]:
            pk = _uuid(options["conference"], "conference")
            if not Conference.objects.filter(pk=pk).exists():
                raise CommandError(f"No conference with id {pk}.")
            queryset = Conference.objects.filter(pk=pk)
        else:
            pk = _uuid(options["app"], "app")
            if not App.objects.filter(pk=pk).exists():
                raise CommandError(f"No app with id {pk}.")
            queryset = conferences_of_app(
                app_id=pk,
                start=_moment(options["start"], "start"),
                end=_moment(options["end"], "end"),
            )
        lines = jsonl_lines(queryset) if options["format"] == "jsonl" else csv_lines(queryset)
        if options["output"]:
            with open(options["output"], "wb") as out:
                for chunk in batched(lines):
                    out.write(chunk)
        else:
            stream = getattr(self.stdout, "_out", sys.stdout)
            binary = getattr(stream, "buffer", None)
            for chunk in batched(lines):
                if binary is not None:
                    binary.write(chunk)
                else:
                    stream.write(chunk.decode())
            stream.flush()
