"""Peak memory of the streamed export, by the number of calls (SQLite).

    .venv/bin/python bench/export_rss.py [--calls 1000 10000] [--rows-per-call 48]

Fills a fresh SQLite database (a temporary DATA_DIR) with an app's calls:
each two participants, one connection each way, two tracks per
connection, ``--rows-per-call`` metric rows and one issue; then, for each
count in ``--calls``, runs the JSON Lines and the CSV export of the app's
first N calls (``api.interop.export``, as ``manage.py export`` does) in a
child process writing to /dev/null, and prints the child's RSS before
exporting and its peak RSS during the export (VmHWM, reset just before),
the bytes written and the time.
Flat memory: the peak does not grow with the number of calls.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(data_dir: str) -> None:
    os.environ["DATA_DIR"] = data_dir
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("DATABASE_HOST", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def fill(calls: int, rows_per_call: int) -> None:
    from django.core.management import call_command
    from django.db import transaction
    from django.db.models import F

    from api.calls.models import (
        Conference,
        ConferenceParticipant,
        Connection,
        Participant,
        Session,
        Track,
    )
    from api.events.writer import rows_insert
    from api.quality.analysis import METRIC_COLUMNS
    from api.quality.models import Issue, TrackMetric
    from api.tenancy.models import App, Organization

    call_command("migrate", verbosity=0)
    app = App.objects.create(organization=Organization.objects.create(name="bench"), name="bench")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    per_track = max(rows_per_call // 4, 1)
    batch = 500
    for first in range(0, calls, batch):
        with transaction.atomic():
            conferences, participants, links, sessions, conns, tracks, issues = (
                [],
                [],
                [],
                [],
                [],
                [],
                [],
            )
            metric_rows: list[tuple] = []
            for n in range(first, min(first + batch, calls)):
                at = start + timedelta(minutes=n)
                conference = Conference(
                    app=app,
                    conference_id=f"room-{n}",
                    conference_name=f"Room {n}",
                    start_time=at,
                    end_time=at + timedelta(minutes=5),
                    duration=300,
                )
                conferences.append(conference)
                people = [
                    Participant(
                        app=app, participant_id=f"user-{n}-{i}", participant_name=f"User {i}"
                    )
                    for i in range(2)
                ]
                participants += people
                links += [
                    ConferenceParticipant(conference=conference, participant=p) for p in people
                ]
                their = [
                    Session(app=app, conference=conference, participant=p, created_at=at)
                    for p in people
                ]
                sessions += their
                for i in range(2):
                    connection = Connection(
                        app=app,
                        session=their[i],
                        conference=conference,
                        participant=people[i],
                        peer=people[1 - i],
                        type="host",
                        state="closed",
                        start_time=at,
                        end_time=at + timedelta(minutes=5),
                        duration=300,
                    )
                    conns.append(connection)
                    for kind in ("audio", "video"):
                        track = Track(
                            session=their[i],
                            connection=connection,
                            kind=kind,
                            direction="inbound",
                            track_id=str(uuid.uuid4()),
                        )
                        tracks.append(track)
                        for k in range(per_track):
                            values = dict.fromkeys(METRIC_COLUMNS)
                            values.update(
                                connection_id=connection.pk,
                                track_id=track.pk,
                                created_at=at + timedelta(seconds=10 * k),
                                kind=kind,
                                direction="inbound",
                                interval_s=10.0,
                                bitrate=40000.0,
                                packets=500,
                                packets_lost=3,
                                loss_pct=0.6,
                                jitter_ms=4.0,
                                rtt_ms=30.0,
                                mos=4.3 if kind == "audio" else None,
                            )
                            metric_rows.append(tuple(values[c] for c in METRIC_COLUMNS))
                issues.append(
                    Issue(
                        app=app,
                        conference=conference,
                        connection=conns[-1],
                        participant=people[1],
                        type="warning",
                        code="high_packet_loss",
                        subject=f"connection:{conns[-1].pk}",
                        created_at=at,
                        resolved_at=at + timedelta(seconds=30),
                    )
                )
            for model, objs in (
                (Conference, conferences),
                (Participant, participants),
                (ConferenceParticipant, links),
                (Session, sessions),
                (Connection, conns),
                (Track, tracks),
                (Issue, issues),
            ):
                model.objects.bulk_create(objs, batch_size=1000)
            step = 32766 // len(METRIC_COLUMNS)
            for i in range(0, len(metric_rows), step):
                rows_insert(
                    model=TrackMetric, columns=METRIC_COLUMNS, rows=metric_rows[i : i + step]
                )
    # One call a minute: "the first N calls" is a time range.
    Conference.objects.update(created_at=F("start_time"))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def export_child(calls: int, fmt: str) -> None:
    from django.conf import settings

    # As in production: with DEBUG on, Django keeps the last 9000 queries'
    # SQL in memory, which an export of thousands of calls fills.
    settings.DEBUG = False
    from api.calls.models import Conference
    from api.interop.export import batched, csv_lines, jsonl_lines

    ids = list(Conference.objects.order_by("created_at", "pk").values_list("pk", flat=True)[:calls])
    last = ids[-1]
    queryset = Conference.objects.order_by("created_at", "pk").filter(
        created_at__lte=Conference.objects.get(pk=last).created_at
    )
    del ids
    before = _status_kb("VmRSS")
    # Reset the high-water mark (Linux): the peak is the export's own.
    Path("/proc/self/clear_refs").write_text("5")
    lines = jsonl_lines(queryset) if fmt == "jsonl" else csv_lines(queryset)
    written = 0
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for chunk in batched(lines):
            sink.write(chunk)
            written += len(chunk)
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    print(f"{before} {peak} {written} {seconds:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rows-per-call", type=int, default=48)
    parser.add_argument("--data-dir", help="Reuse a database this script filled (its DATA_DIR).")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data_dir, calls, fmt = args.child
        _setup(data_dir)
        export_child(int(calls), fmt)
        return

    work = args.data_dir or tempfile.mkdtemp(prefix="pm-bench-export-")
    _setup(work)
    if not args.data_dir:
        started = time.perf_counter()
        fill(max(args.calls), args.rows_per_call)
        print(
            f"filled {max(args.calls)} calls × {args.rows_per_call} metric rows "
            f"in {time.perf_counter() - started:.1f} s (SQLite, {work})"
        )
    print("calls  format  RSS before (MB)  peak RSS (MB)  written (MB)  time (s)")
    for calls in args.calls:
        for fmt in ("jsonl", "csv"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", work, str(calls), fmt],
                capture_output=True,
                text=True,
                check=True,
            )
            before, peak, written, seconds = done.stdout.split()
            print(
                f"{calls:>6} {fmt:>6} {int(before) / 1024:>16.1f} {int(peak) / 1024:>14.1f} "
                f"{int(written) / 1e6:>13.1f} {seconds:>9}"
            )


if __name__ == "__main__":
    main()
