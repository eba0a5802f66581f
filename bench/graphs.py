"""Benchmark: ``conference_graphs`` for a one-hour, four-participant call.

Builds the call directly in the database (no HTTP): 4 participants in full
mesh (12 connections), 4 tracks per connection (audio and video, in and
out), one metric row per track every 10 s for an hour (17,280 rows), with
realistic values. Then times ``conference_graphs`` plus JSON encoding.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pm_quality_bench \\
        .venv/bin/python bench/graphs.py --repeat 50

The database is migrated first; the bench organization is rebuilt on each
run. Results are printed; record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection as db  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from api.calls.models import Conference, Connection, Participant, Session, Track  # noqa: E402
from api.quality.models import TrackMetric  # noqa: E402
from api.quality.selectors import conference_graphs  # noqa: E402
from api.tenancy.models import App, Organization  # noqa: E402

BENCH_ORG = "bench-graphs"
PARTICIPANTS = 4
INTERVAL_S = 10
DURATION_S = 3600


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build(start: datetime, *, ongoing: bool) -> Conference:
    Organization.objects.filter(name=BENCH_ORG).delete()
    organization = Organization.objects.create(name=BENCH_ORG)
    app = App.objects.create(organization=organization, name=BENCH_ORG)
    conference = Conference.objects.create(
        app=app,
        conference_id="bench-one-hour",
        start_time=start,
        call_start=start if ongoing else None,
        end_time=None if ongoing else start + timedelta(seconds=DURATION_S),
        ongoing=ongoing,
        duration=0 if ongoing else DURATION_S,
    )
    people = [
        Participant.objects.create(app=app, participant_id=f"bench-u{i}", participant_name=f"U{i}")
        for i in range(PARTICIPANTS)
    ]
    sessions = {
        p.pk: Session.objects.create(
            app=app, conference=conference, participant=p, created_at=start
        )
        for p in people
    }
    rng = random.Random(7)
    rows = []
    for me in people:
        for peer in people:
            if peer is me:
                continue
            connection = Connection.objects.create(
                app=app,
                session=sessions[me.pk],
                conference=conference,
                participant=me,
                peer=peer,
                state="connected",
                type="host",
                start_time=start,
            )
            tracks = {
                (kind, direction): Track.objects.create(
                    session=sessions[me.pk],
                    connection=connection,
                    kind=kind,
                    direction=direction,
                    track_id=f"{me.participant_id}-{peer.participant_id}-{kind}-{direction}",
                )
                for kind in ("audio", "video")
                for direction in ("inbound", "outbound")
            }
            offset = rng.uniform(0, INTERVAL_S)
            for n in range(DURATION_S // INTERVAL_S):
                at = start + timedelta(seconds=offset + n * INTERVAL_S)
                rtt = rng.gauss(60, 8)
                loss = max(0.0, rng.gauss(0.3, 0.5))
                for (kind, direction), track in tracks.items():
                    first = n == 0
                    row = TrackMetric(
                        connection=connection,
                        track=track,
                        created_at=at,
                        kind=kind,
                        direction=direction,
                        interval_s=None if first else rng.uniform(9.9, 10.1),
                        rtt_ms=rtt,
                    )
                    if not first and kind == "audio":
                        row.bitrate = rng.gauss(32_000, 2_000)
                        row.packet_rate = rng.gauss(50, 1)
                        row.packets = int(row.packet_rate * 10)
                        row.packets_lost = int(row.packets * loss / 100)
                        row.loss_pct = loss
                        row.jitter_ms = rng.gauss(4, 1)
                        if direction == "inbound":
                            row.jitter_buffer_ms = rng.gauss(40, 5)
                            row.concealment_pct = loss * 0.8
                            row.mos = min(4.4, 4.38 - loss * 0.2)
                    if not first and kind == "video":
                        row.bitrate = rng.gauss(1_200_000, 150_000)
                        row.packet_rate = rng.gauss(140, 10)
                        row.packets = int(row.packet_rate * 10)
                        row.packets_lost = int(row.packets * loss / 100)
                        row.loss_pct = loss
                        row.fps = rng.gauss(29, 1)
                        row.width, row.height = 1280, 720
                        if direction == "inbound":
                            row.jitter_ms = rng.gauss(8, 2)
                            row.jitter_buffer_ms = rng.gauss(50, 8)
                            row.freeze_count = 1 if rng.random() < 0.01 else 0
                            row.freeze_ms = 400.0 if row.freeze_count else 0.0
                            row.video_score = rng.gauss(3.5, 0.2)
                        else:
                            row.limitation = "bandwidth" if rng.random() < 0.05 else "none"
                    rows.append(row)
    TrackMetric.objects.bulk_create(rows, batch_size=2000)
    with db.cursor() as cursor:
        cursor.execute(f'ANALYZE "{TrackMetric._meta.db_table}"')
    return conference


def measure(conference: Conference, *, repeat: int, points: int) -> dict:
    conference_graphs(conference_id=conference.pk, points=points)  # warm-up
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        body = orjson.dumps(conference_graphs(conference_id=conference.pk, points=points))
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(db) as queries:
        graphs = conference_graphs(conference_id=conference.pk, points=points)
    timings.sort()
    return {
        "median_ms": statistics.median(timings),
        "p95_ms": timings[min(len(timings) - 1, int(round(0.95 * (len(timings) - 1))))],
        "min_ms": timings[0],
        "max_ms": timings[-1],
        "series": len(graphs["series"]),
        "points": sum(len(s["data"]) for s in graphs["series"]),
        "bytes": len(body),
        "queries": len(queries.captured_queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--points", type=int, default=300)
    args = parser.parse_args()
    if db.vendor != "postgresql":
        print("warning: not PostgreSQL; the target is measured on PostgreSQL", file=sys.stderr)
    call_command("migrate", verbosity=0)
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} CPUs visible, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT version()" if db.vendor == "postgresql" else "SELECT sqlite_version()"
        )
        print(f"database: {db.vendor} {cursor.fetchone()[0].split(' on ')[0]}")
    for ongoing in (False, True):
        start = datetime.now(UTC) - timedelta(seconds=DURATION_S)
        started = time.perf_counter()
        conference = build(start, ongoing=ongoing)
        built = time.perf_counter() - started
        rows = TrackMetric.objects.filter(connection__conference=conference).count()
        result = measure(conference, repeat=args.repeat, points=args.points)
        label = "ongoing (window ends now)" if ongoing else "ended"
        print(
            f"{label}: {rows} metric rows built in {built:.1f} s; "
            f"conference_graphs(points={args.points}) + orjson over {args.repeat} runs: "
            f"median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
            f"min {result['min_ms']:.1f} ms, max {result['max_ms']:.1f} ms; "
            f"{result['series']} series, {result['points']} points, "
            f"{result['bytes']} bytes of JSON, {result['queries']} SQL statements"
        )
    Organization.objects.filter(name=BENCH_ORG).delete()
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
