"""Time the admin's event list on a large table (PostgreSQL only).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch db> \
        .venv/bin/python bench/admin_event_list.py --rows 1000000

Fills the GenericEvent table of a *scratch* database up to ``--rows`` rows
(one conference; ``generate_series``, so it takes seconds), then prints the
median time of: Django's plain ``COUNT(*)``, the admin's capped count, and
the whole list page as the admin serves it. Never point it at real data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.core.paginator import Paginator  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from api.calls.models import Conference, Connection, Participant, Session  # noqa: E402
from api.common.admin import CappedCountPaginator  # noqa: E402
from api.events.models import GenericEvent  # noqa: E402
from api.tenancy.models import App, Organization, User  # noqa: E402


def median_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def fill(rows: int) -> None:
    have = GenericEvent.objects.count()
    if have >= rows:
        return
    app = App.objects.filter(name="bench").first()
    if app is None:
        app = App.objects.create(
            organization=Organization.objects.create(name="bench"), name="bench"
        )
    now = timezone.now()
    conference, _ = Conference.objects.get_or_create(app=app, conference_id="bench")
    alice, _ = Participant.objects.get_or_create(app=app, participant_id="alice")
    bob, _ = Participant.objects.get_or_create(app=app, participant_id="bob")
    session = Session.objects.create(
        app=app, conference=conference, participant=alice, created_at=now
    )
    link = Connection.objects.create(
        app=app,
        session=session,
        conference=conference,
        participant=alice,
        peer=bob,
        start_time=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {GenericEvent._meta.db_table}
                (id, app_id, conference_id, participant_id, session_id, connection_id,
                 type, category, data, fingerprint, created_at)
            SELECT gen_random_uuid(), %s, %s, %s, %s, %s, 'onicecandidate', 'connection',
                   '{{"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host"}}',
                   '', %s - make_interval(secs => n)
            FROM generate_series(1, %s) AS n
            """,
            [app.pk, conference.pk, alice.pk, session.pk, link.pk, now, rows - have],
        )
        cursor.execute(f"ANALYZE {GenericEvent._meta.db_table}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not settings.IS_POSTGRES:
        sys.exit("PostgreSQL only: set DATABASE_URL to a scratch database.")

    fill(args.rows)
    events = GenericEvent.objects.all()
    user = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench@example.com", None
    )
    client = Client()
    client.force_login(user)

    def page() -> None:
        response = client.get("/admin/events/genericevent/")
        assert response.status_code == 200, response.status_code

    print(f"rows: {events.count()}")
    print(f"COUNT(*) (Django's default paginator): {median_ms(events.count, args.repeat):.1f} ms")
    newest = events.order_by("-pk")
    capped = median_ms(lambda: CappedCountPaginator(newest, 50).count, args.repeat)
    print(f"capped count (LIMIT {CappedCountPaginator.cap + 1}): {capped:.1f} ms")
    print(f"admin list page, whole request: {median_ms(page, args.repeat):.1f} ms")

    # The same page as Django's defaults would serve it: an exact count of
    # the filtered rows plus the full-table count next to the search box.
    model_admin = admin.site._registry[GenericEvent]
    model_admin.paginator, model_admin.show_full_result_count = Paginator, True
    print(f"same page with Django's default counts: {median_ms(page, args.repeat):.1f} ms")


if __name__ == "__main__":
    main()
