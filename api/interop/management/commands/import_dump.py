"""``manage.py import_dump FILE… --app <id>``: import browser dumps
(webrtc-internals JSON, plain or gzip; rtcstats format 3) as conferences of
an app, with a progress bar and a summary per file."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm  # type: ignore[import-untyped]

from api.interop.dumps import DumpError
from api.interop.importer import dump_import
from api.tenancy.models import App


class Command(BaseCommand):
    help = "Import webrtc-internals or rtcstats dumps as conferences of an app."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--app", required=True, help="The app's id (UUID).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, files: list[Path], app: str, no_progress: bool, **options) -> None:
        try:
            target = App.objects.get(pk=uuid.UUID(app))
        except (ValueError, App.DoesNotExist) as exc:
            raise CommandError(f"No app with id {app!r}.") from exc
        failed = 0
        for path in files:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                self.stderr.write(f"{path}: {exc.strerror}")
                failed += 1
                continue
            bar = tqdm(
                total=0,
                desc=path.name,
                unit=" steps",
                disable=no_progress,
                file=self.stderr,
                leave=False,
            )

            def progress(done: int, total: int, bar=bar) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                summary = dump_import(app=target, raw=raw, filename=path.name, progress=progress)
            except DumpError as exc:
                bar.close()
                self.stderr.write(f"{path}: refused ({exc.code}): {exc.message}")
                failed += 1
                continue
            bar.close()
            self.stdout.write(
                f"{path}: conference {summary.conference} ({summary.format}): "
                f"{summary.participants} participants, {summary.connections} connections, "
                f"{summary.samples} samples, {summary.events} events, "
                f"{summary.issues} issues found, in {summary.seconds:.2f} s"
                + (
                    " (Chrome had truncated the stats to 1000 values)"
                    if summary.stats_truncated
                    else ""
                )
            )
        if failed:
            raise CommandError(f"{failed} of {len(files)} files not imported.")
