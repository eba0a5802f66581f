"""Screenshots of every dashboard page, for docs/screenshots/.

Builds a scratch SQLite database in a temporary folder (never yours):
replays the two captured SDK calls, makes a lossy call with the bench
traffic generator's loss, an ongoing call, and a week of smaller calls for
the overview; starts the server on a local port and lets Debian's Chromium
(through Playwright, as the browser tests do) photograph each page at
1280 px, and the main ones at 390 px.

    .venv/bin/python scripts/screenshots.py [--port 18410] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCRATCH = tempfile.mkdtemp(prefix="pm-screenshots-")
os.environ.update(
    DATA_DIR=SCRATCH,
    DEBUG="true",
    DATABASE_URL=f"sqlite:///{SCRATCH}/db.sqlite3",
    LOG_LEVEL="ERROR",
)
os.environ.pop("REDIS_HOST", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import django  # noqa: E402
import pytest  # noqa: E402

django.setup()

from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.testcases import LiveServerThread  # noqa: E402

import api.common.time as clock  # noqa: E402
from api.calls.models import Conference, ConferenceParticipant, Participant, Session  # noqa: E402
from api.dashboard.tests.calls import LossyCall  # noqa: E402
from api.dashboard.tests.test_browser import ARGS, CHROMIUM  # noqa: E402
from api.ingest.tests.fake_sdk import Page  # noqa: E402
from api.ingest.tests.test_replay_captured_calls import replay  # noqa: E402
from api.quality.models import Issue  # noqa: E402
from api.rollups.services import rollups_rebuild  # noqa: E402
from api.tenancy import services  # noqa: E402
from api.tenancy.models import App, Membership, User  # noqa: E402
from conftest import CAPTURED_API_KEY, SDK_PAYLOADS, SdkClient  # noqa: E402

PASSWORD = "screenshots-password"


class _Clock:
    def __init__(self, at: datetime):
        self.now = at

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def build() -> dict:
    call_command("migrate", verbosity=0)
    owner = User.objects.create_user(username="demo", password=PASSWORD, email="demo@example.com")
    organization = services.organization_create(name="Acme", owner=owner)
    member = User.objects.create_user(username="viewer", password=PASSWORD)
    Membership.objects.create(user=member, organization=organization, role="member")
    app = services.app_create(
        organization=organization, name="Acme video", api_key=CAPTURED_API_KEY
    )
    services.app_create(organization=organization, name="Acme support (new)")
    sdk = SdkClient(Client())
    # The captured calls, at the time they were captured.
    with pytest.MonkeyPatch.context() as patch:
        for name in ("call-3-participants.json", "call-2-participants.json"):
            replay(sdk, patch, json.loads((SDK_PAYLOADS / name).read_text()))
    today = datetime.now(UTC).replace(microsecond=0)
    fake = _Clock(today)
    clock.now = lambda: fake.now  # the server's clock, moved by the calls below
    fake.now = today - timedelta(minutes=50)
    lossy = LossyCall(lambda user: Page(sdk, user, conference_id="standup-lossy"), fake)
    lossy.ticks(6)
    lossy.ticks(8, loss=0.12)
    lossy.ticks(4)
    lossy.end()
    fake.now = today - timedelta(minutes=3)
    live = LossyCall(lambda user: Page(sdk, user, conference_id="design-review-live"), fake)
    live.ticks(6)
    live.ticks(3, loss=0.08)
    # A week of smaller calls (rows written directly) for the overview.
    rng = random.Random(3)
    people = [
        Participant.objects.create(app=app, participant_id=f"user-{n}", participant_name=name)
        for n, name in enumerate(["Ana", "Ben", "Chen", "Dara", "Eli", "Fay"])
    ]
    for n in range(140):
        start = today - timedelta(days=rng.uniform(0.2, 6.9))
        duration = rng.randint(60, 2400)
        conference = Conference.objects.create(
            app=app,
            conference_id=f"room-{n}",
            conference_name=f"Room {n}",
            start_time=start,
            end_time=start + timedelta(seconds=duration),
            duration=duration,
        )
        Conference.objects.filter(pk=conference.pk).update(created_at=start)
        for person in rng.sample(people, rng.choice([2, 2, 3, 4])):
            ConferenceParticipant.objects.create(conference=conference, participant=person)
            session = Session.objects.create(
                app=app,
                conference=conference,
                participant=person,
                created_at=start,
                platform=rng.choice(
                    [
                        {"browser": {"name": "Chrome", "major": "131"}, "os": {"name": "Windows"}},
                        {"browser": {"name": "Firefox", "major": "133"}, "os": {"name": "Linux"}},
                        {"browser": {"name": "Safari", "major": "18"}, "os": {"name": "iOS"}},
                    ]
                ),
            )
            if rng.random() < 0.12:
                code, kind = rng.choice(
                    [
                        ("high_rtt", "warning"),
                        ("high_packet_loss", "warning"),
                        ("ice_failed", "error"),
                        ("video_freeze", "warning"),
                    ]
                )
                Issue.objects.create(
                    app=app,
                    conference=conference,
                    session=session,
                    participant=person,
                    type=kind,
                    code=code,
                    subject=f"session:{session.pk}",
                    peak_value=rng.uniform(4, 15),
                    created_at=start + timedelta(seconds=20),
                    resolved_at=start + timedelta(seconds=20 + rng.randint(10, 200)),
                )
    rollups_rebuild(app_id=app.pk)
    clock.now = lambda: datetime.now(UTC)
    return {
        "app": app,
        "empty": App.objects.get(name="Acme support (new)"),
        "organization": organization,
        "lossy": Conference.objects.get(conference_id="standup-lossy"),
        "live": Conference.objects.get(conference_id="design-review-live"),
        "participant": Participant.objects.get(app=app, participant_id="alice"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18410)
    parser.add_argument("--out", default=str(ROOT / "docs/screenshots"))
    options = parser.parse_args()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    data = build()
    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=options.port)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    base = f"http://127.0.0.1:{options.port}"
    app, lossy = data["app"].pk, data["lossy"].pk
    pages = [
        ("login", "/", None),
        ("overview", f"/app/{app}?range=7d", "demo"),
        ("calls", f"/app/{app}/calls?range=7d", "demo"),
        ("call", f"/conference/{lossy}", "demo"),
        ("call-live", f"/conference/{data['live'].pk}", "demo"),
        ("participant", f"/participant/{data['participant'].pk}", "demo"),
        ("issues", f"/app/{app}/issues?range=7d", "demo"),
        ("settings", f"/app/{app}/settings", "demo"),
        ("settings-member", f"/app/{app}/settings", "viewer"),
        ("members", f"/organization/{data['organization'].pk}", "demo"),
        ("tokens", "/account/tokens", "demo"),
        ("empty-app", f"/app/{data['empty'].pk}", "demo"),
        ("password", "/password", "demo"),
    ]
    narrow = {"overview", "calls", "call"}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        contexts = {}
        for user in ("demo", "viewer"):
            for width in (1280, 390):
                context = browser.new_context(viewport={"width": width, "height": 800})
                tab = context.new_page()
                tab.goto(base + "/login")
                tab.fill("#id_username", user)
                tab.fill("#id_password", PASSWORD)
                tab.click("button[type=submit]")
                tab.wait_for_url(lambda url: "/login" not in url)
                contexts[(user, width)] = tab
        anonymous = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        for name, path, user in pages:
            for width in (1280, 390) if name in narrow else (1280,):
                tab = anonymous if user is None else contexts[(user, width)]
                tab.goto(base + path)
                if path.startswith("/conference/"):
                    tab.wait_for_selector("#call[data-loaded=true]")
                suffix = "" if width == 1280 else "-390"
                tab.screenshot(path=str(out / f"{name}{suffix}.png"), full_page=True)
                print(f"{name}{suffix}.png")
        browser.close()


if __name__ == "__main__":
    main()
