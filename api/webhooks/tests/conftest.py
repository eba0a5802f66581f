from __future__ import annotations

import pytest

from api.ingest.tests.fake_sdk import clock, page  # noqa: F401  (fixtures)
from api.webhooks import services
from api.webhooks.tests.receiver import Receiver


@pytest.fixture(autouse=True)
def _fresh_endpoint_cache():
    services.cache_forget()
    yield
    services.cache_forget()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def local_targets(settings):
    """The receiver is on loopback: allowed, as the setting says."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def endpoint(app, receiver, local_targets):
    return services.endpoint_create(app=app, url=receiver.url + "/hooks?src=pm")


def run_worker() -> None:
    """``manage.py db_worker --batch``: run every task that is ready, then stop."""
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="tests",
        excluded_queue_names=[],
    ).run()
