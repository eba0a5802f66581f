"""Benchmark: server time of every dashboard page and partial on a large app.

Generates (PostgreSQL, binary-free COPY through psycopg) one app with
100,000 ended conferences over the last 30 days, 2-4 participants each
(sessions, links), issues on about a fifth of them, their call summaries
and daily rollups, and 2,000,000 per-track metric rows (the latest 4,200
calls: two connections, four tracks, 60 samples per track), plus 20 events
per call with metrics. Then requests each page in-process through Django's
test client as a logged-in member (the whole middleware stack and the
template rendering; no network) and prints p50/p95 per page.

    createdb pm_dash_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pm_dash_bench DEBUG=false \\
      SECRET_KEY=... INIT_TOKEN_SECRET=... SESSION_TOKEN_SECRET=... \\
      .venv/bin/python bench/dashboard.py --repeat 40

(``bench/env.sh`` sets such an environment.) ``--scale 0.01`` makes a
hundredth of the data (a quick try). The data is generated once per
database and kept (``--regenerate`` truncates the tables first: use a
database of its own). Targets (issue 12): p95 < 300 ms for every page,
< 150 ms for the app overview and the calls list.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection as db  # noqa: E402
from django.test import Client  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from api.calls.models import (  # noqa: E402
    Conference,
    ConferenceParticipant,
    Connection,
    Participant,
    Session,
    Track,
)
from api.events.models import GenericEvent  # noqa: E402
from api.events.partitioning import partition_ensure  # noqa: E402
from api.quality.models import METRIC_PARTITIONS, Issue, TrackMetric  # noqa: E402
from api.rollups import summaries  # noqa: E402
from api.rollups.models import AppDay, CallSummary  # noqa: E402
from api.rollups.services import days_rebuild  # noqa: E402
from api.tenancy.models import App, Membership, Organization, User  # noqa: E402

BENCH_ORG = "bench-dashboard"
DAYS = 30
PLATFORMS = [
    {"browser": {"name": "Chrome", "major": "131", "version": "131.0"}, "os": {"name": "Windows"}},
    {"browser": {"name": "Chrome", "major": "131", "version": "131.0"}, "os": {"name": "Mac OS"}},
    {"browser": {"name": "Firefox", "major": "133", "version": "133.0"}, "os": {"name": "Linux"}},
    {"browser": {"name": "Safari", "major": "18", "version": "18.1"}, "os": {"name": "iOS"}},
]
CODES = [
    ("high_packet_loss", "warning"),
    ("high_rtt", "warning"),
    ("low_emos", "warning"),
    ("ice_failed", "error"),
    ("video_freeze", "warning"),
    ("connection_failed", "error"),
]


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _copy(model, rows: list[dict]) -> None:
    """COPY rows (dicts of column → value) into the model's table."""
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    raw = db.connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row([row[c] for c in columns])


def generate(*, scale: float, seed: int = 12) -> App:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    conferences_n = int(100_000 * scale)
    with_metrics = int(4_200 * scale)
    owner = User.objects.create_user(username="bench-member", password="bench-password-123")
    organization = Organization.objects.create(name=BENCH_ORG)
    Membership.objects.create(user=owner, organization=organization, role="member")
    app = App.objects.create(organization=organization, name="bench app")
    for offset in range(DAYS + 2):
        partition_ensure(METRIC_PARTITIONS, (start + timedelta(days=offset)).date())
    people = [
        {
            "id": uuid.uuid4(),
            "app_id": app.pk,
            "participant_id": f"user-{n}",
            "participant_name": f"User {n}",
            "is_sfu": False,
            "created_at": start,
        }
        for n in range(max(int(20_000 * scale), 10))
    ]
    _copy(Participant, people)
    conferences, links, sessions, issues, summaries_rows = [], [], [], [], []
    connections, tracks, metrics, events = [], [], [], []
    times = sorted(
        start + timedelta(seconds=rng.uniform(0, DAYS * 86400 - 7200)) for _ in range(conferences_n)
    )
    for index, created in enumerate(times):
        duration = int(rng.choice([45, 240, 600, 1500, 2400, 3300]) * rng.uniform(0.7, 1.3))
        end = created + timedelta(seconds=duration)
        conference_pk = uuid.uuid4()
        conferences.append(
            {
                "id": conference_pk,
                "app_id": app.pk,
                "conference_id": f"room-{index}",
                "conference_name": f"Room {index}",
                "conference_info": Jsonb({}),
                "start_time": created,
                "call_start": created,
                "end_time": end,
                "ongoing": False,
                "duration": duration,
                "created_at": created,
            }
        )
        members = rng.sample(people, rng.choice([2, 2, 3, 4]))
        call_sessions = []
        for person in members:
            links.append(
                {
                    "conference_id": conference_pk,
                    "participant_id": person["id"],
                    "created_at": created,
                }
            )
            session_pk = uuid.uuid4()
            call_sessions.append((session_pk, person))
            sessions.append(
                {
                    "id": session_pk,
                    "app_id": app.pk,
                    "conference_id": conference_pk,
                    "participant_id": person["id"],
                    "constraints": Jsonb({}),
                    "devices": Jsonb([{"kind": "audioinput", "label": "Microphone"}]),
                    "platform": Jsonb(rng.choice(PLATFORMS)),
                    "metadata": None,
                    "geo_ip": Jsonb({}),
                    "app_version": "2.1.0",
                    "webrtc_sdk": "",
                    "session_info": Jsonb({}),
                    "duration": duration,
                    "end_time": end,
                    "call_start": created,
                    "created_at": created,
                }
            )
        call_issues = []
        if rng.random() < 0.2:
            for _ in range(rng.randint(1, 3)):
                code, kind = rng.choice(CODES)
                session_pk, person = rng.choice(call_sessions)
                raised = created + timedelta(seconds=rng.uniform(0, duration * 0.8))
                call_issues.append((code, kind))
                issues.append(
                    {
                        "id": uuid.uuid4(),
                        "app_id": app.pk,
                        "conference_id": conference_pk,
                        "session_id": session_pk,
                        "participant_id": person["id"],
                        "connection_id": None,
                        "track_id": None,
                        "type": kind,
                        "code": code,
                        "subject": f"session:{session_pk}:{uuid.uuid4().hex[:6]}",
                        "data": Jsonb({}),
                        "peak_value": round(rng.uniform(3, 20), 1),
                        "created_at": raised,
                        "resolved_at": raised
                        + timedelta(seconds=rng.uniform(5, duration * 0.2 + 6)),
                    }
                )
        errors = sum(1 for _, kind in call_issues if kind == "error")
        warnings = len(call_issues) - errors
        outcome = "error" if errors else "warning" if warnings else "good"
        mos = round(rng.uniform(3.0, 4.4) - 0.4 * len(call_issues), 2)
        contribution = summaries.add(
            {},
            {
                "calls": {outcome: 1},
                "seconds": duration,
                "participants": len(members),
                "issues": {code: 1 for code, _ in call_issues},
                "issue_calls": {code: 1 for code, _ in call_issues},
                "mos": {summaries.score_bucket(mos): 1},
                "video": {summaries.score_bucket(mos - 0.3): 1},
                "setup": {
                    summaries.bucket(rng.uniform(80, 1500), summaries.SETUP_BUCKETS): len(members)
                },
                "duration": {summaries.bucket(duration, summaries.DURATION_BUCKETS): 1},
                "browsers": {"Chrome 131": len(members)},
                "os": {"Windows": len(members)},
                "sdk": {"none": len(members)},
                "network": {"direct": len(members)},
            },
        )
        summaries_rows.append(
            {
                "conference_id": conference_pk,
                "app_id": app.pk,
                "day": created.date(),
                "start_time": created,
                "end_time": end,
                "outcome": outcome,
                "seconds": duration,
                "participants": len(members),
                "mos_min": mos,
                "mos_avg": mos + 0.2,
                "video_avg": mos - 0.3,
                "errors": errors,
                "warnings": warnings,
                "badness": summaries.badness(
                    errors=errors,
                    warnings=warnings,
                    mos_min=mos,
                    issue_seconds=duration * 0.1 * len(call_issues),
                    seconds=duration,
                ),
                "contribution": Jsonb(contribution),
                "computed_at": now,
            }
        )
        if index >= conferences_n - with_metrics:
            (a_session, a), (b_session, b) = call_sessions[0], call_sessions[1]
            for session_pk, me, peer in ((a_session, a, b), (b_session, b, a)):
                connection_pk = uuid.uuid4()
                connections.append(
                    {
                        "id": connection_pk,
                        "app_id": app.pk,
                        "session_id": session_pk,
                        "conference_id": conference_pk,
                        "participant_id": me["id"],
                        "peer_id": peer["id"],
                        "type": "host",
                        "state": "closed",
                        "connection_info": Jsonb(
                            {"detected_tcp": False, "detected_turn": False, "negotiations": []}
                        ),
                        "start_time": created,
                        "end_time": end,
                        "duration": duration,
                        "created_at": created,
                    }
                )
                for kind in ("audio", "video"):
                    for direction in ("inbound", "outbound"):
                        track_pk = uuid.uuid4()
                        tracks.append(
                            {
                                "id": track_pk,
                                "session_id": session_pk,
                                "connection_id": connection_pk,
                                "kind": kind,
                                "direction": direction,
                                "track_id": f"{kind}-{direction}-{track_pk.hex[:8]}",
                                "label": None,
                                "track_info": Jsonb({}),
                                "created_at": created,
                            }
                        )
                        step = duration / 60
                        for n in range(60):
                            loss = max(0.0, rng.gauss(0.5, 1.0))
                            metrics.append(
                                {
                                    "connection_id": connection_pk,
                                    "track_id": track_pk,
                                    "created_at": created + timedelta(seconds=step * (n + 1)),
                                    "kind": kind,
                                    "direction": direction,
                                    "interval_s": step,
                                    "bitrate": rng.gauss(
                                        32_000 if kind == "audio" else 1_100_000, 2000
                                    ),
                                    "loss_pct": loss,
                                    "jitter_ms": rng.gauss(6, 2),
                                    "rtt_ms": rng.gauss(60, 8),
                                    "fps": 29.0 if kind == "video" else None,
                                    "width": 1280 if kind == "video" else None,
                                    "height": 720 if kind == "video" else None,
                                    "mos": 4.3 - loss * 0.2
                                    if kind == "audio" and direction == "inbound"
                                    else None,
                                    "video_score": 3.8
                                    if kind == "video" and direction == "inbound"
                                    else None,
                                }
                            )
                for n in range(10):
                    events.append(
                        {
                            "id": uuid.uuid4(),
                            "app_id": app.pk,
                            "conference_id": conference_pk,
                            "participant_id": me["id"],
                            "peer_id": peer["id"],
                            "session_id": session_pk,
                            "connection_id": connection_pk,
                            "track_id": None,
                            "type": "oniceconnectionstatechange" if n % 2 else "custom",
                            "category": "connection" if n % 2 else "browser",
                            "data": Jsonb({"state": "connected"}),
                            "fingerprint": "",
                            "created_at": created + timedelta(seconds=n),
                        }
                    )
        if len(metrics) > 200_000:
            _flush(
                conferences,
                links,
                sessions,
                issues,
                summaries_rows,
                connections,
                tracks,
                metrics,
                events,
            )
    _flush(
        conferences, links, sessions, issues, summaries_rows, connections, tracks, metrics, events
    )
    for offset in range(DAYS + 1):
        days_rebuild(app_id=app.pk, day=(start + timedelta(days=offset)).date())
    with db.cursor() as cursor:
        cursor.execute("ANALYZE")
    return app


def _flush(*tables: list[dict]) -> None:
    models = [
        Conference,
        ConferenceParticipant,
        Session,
        Issue,
        CallSummary,
        Connection,
        Track,
        TrackMetric,
        GenericEvent,
    ]
    for model, rows in zip(models, tables, strict=True):
        _copy(model, rows)
        rows.clear()


def _timed(client: Client, url: str, repeat: int) -> dict:
    client.get(url)  # warm-up
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (url, answer.status_code)
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[int(round(0.95 * (len(timings) - 1)))],
        "bytes": len(answer.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--regenerate", action="store_true")
    options = parser.parse_args()
    if not settings.IS_POSTGRES:
        raise SystemExit("PostgreSQL only: set DATABASE_URL")
    call_command("migrate", verbosity=0)
    if not settings.DEBUG:  # the pages link their static files by hashed name
        call_command("collectstatic", "--noinput", verbosity=0)
    app = App.objects.filter(organization__name=BENCH_ORG).first()
    if options.regenerate and app is not None:
        tables = [m._meta.db_table for m in (Organization, User, Participant, CallSummary, AppDay)]
        with db.cursor() as cursor:
            cursor.execute(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + ", quality_trackmetric CASCADE"
            )
        app = None
    if app is None:
        started = time.perf_counter()
        app = generate(scale=options.scale)
        print(f"generated in {time.perf_counter() - started:.0f} s")
    counts = {
        "conferences": Conference.objects.filter(app=app).count(),
        "metric rows": TrackMetric.objects.count(),
        "issues": Issue.objects.filter(app=app).count(),
        "sessions": Session.objects.filter(app=app).count(),
    }
    print(counts)
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(username="bench-member"))
    with_metrics = (
        Conference.objects.filter(app=app, connections__isnull=False)
        .order_by("-created_at")
        .first()
    )
    participant = Participant.objects.filter(app=app).first()
    code = "high_packet_loss"
    first = client.get(f"/app/{app.pk}/calls").content.decode()
    cursor = (
        first.split("cursor=", 1)[1].split("&", 1)[0].split('"', 1)[0] if "cursor=" in first else ""
    )
    pages = {
        "overview 24 h": f"/app/{app.pk}?range=24h",
        "overview 7 d": f"/app/{app.pk}?range=7d",
        "overview 30 d": f"/app/{app.pk}?range=30d",
        "calls list": f"/app/{app.pk}/calls?range=30d",
        "calls list, next page (partial)": f"/app/{app.pk}/calls?range=24h&cursor={cursor}&partial=1",
        "calls list, issue filter": f"/app/{app.pk}/calls?range=30d&code={code}",
        "calls list, errors only": f"/app/{app.pk}/calls?range=30d&outcome=error",
        "calls list, search": f"/app/{app.pk}/calls?range=30d&q=room-9999",
        "calls list, participant": f"/app/{app.pk}/calls?range=30d&participant=user-7",
        "call page": f"/conference/{with_metrics.pk}",
        "call data (charts + live parts)": f"/conference/{with_metrics.pk}/data",
        "call events (partial)": f"/conference/{with_metrics.pk}/events",
        "participant page": f"/participant/{participant.pk}",
        "issues 7 d": f"/app/{app.pk}/issues?range=7d",
        "issues 30 d": f"/app/{app.pk}/issues?range=30d",
        "settings": f"/app/{app.pk}/settings",
    }
    print(f"machine: {_cpu()}, {os.cpu_count()} CPUs; PostgreSQL; repeat {options.repeat}")
    print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8} {'KB':>6}")
    for name, url in pages.items():
        result = _timed(client, url, options.repeat)
        print(f"{name:40} {result['p50']:8.1f} {result['p95']:8.1f} {result['bytes'] / 1024:6.0f}")


if __name__ == "__main__":
    main()
