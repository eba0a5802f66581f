from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from api.query.openapi import openapi_text


class Command(BaseCommand):
    help = "Print the query API's OpenAPI document (or write it with --output)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", help="Write to this file, e.g. docs/openapi.json.")

    def handle(self, *args, **options) -> None:
        text = openapi_text()
        if options["output"]:
            Path(options["output"]).write_text(text)
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
