from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from prometheus_client import REGISTRY

from api.common.management.commands.scheduler import scheduled_run
from api.common.scheduling import Every, scheduled_commands


def _runs(command: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "pm_scheduled_runs_total", {"command": command, "outcome": outcome}
        )
        or 0.0
    )


def test_the_apps_schedule_the_stale_call_cleanup_and_the_partition_maintenance():
    assert {(job.command, job.minutes) for job in scheduled_commands()} >= {
        ("cleanup_stale_conferences", 15),
        ("maintain_partitions", 24 * 60),
        ("prune_webhooks", 24 * 60),
    }


# Not in a test transaction: between runs the scheduler closes a connection
# that is not in autocommit mode, as it would close a broken one.
@pytest.mark.django_db(transaction=True)
def test_once_runs_every_scheduled_command_and_counts_the_runs():
    before = _runs("maintain_partitions", "ok")
    out = io.StringIO()

    call_command("scheduler", "--once", stdout=out)

    assert "cleanup_stale_conferences: every 15 min" in out.getvalue()
    assert _runs("maintain_partitions", "ok") - before == 1
    assert (
        REGISTRY.get_sample_value(
            "pm_scheduled_last_success_timestamp_seconds", {"command": "maintain_partitions"}
        )
        > 0
    )


@pytest.mark.django_db
def test_a_failing_command_is_logged_and_counted_and_the_others_still_run(monkeypatch, caplog):
    jobs = [Every(command="no_such_command", minutes=1), Every(command="check", minutes=1)]
    monkeypatch.setattr("api.common.management.commands.scheduler.scheduled_commands", lambda: jobs)
    failed_before = _runs("no_such_command", "failed")
    ok_before = _runs("check", "ok")

    with pytest.raises(CommandError, match="no_such_command"):
        call_command("scheduler", "--once", stdout=io.StringIO())

    assert _runs("no_such_command", "failed") - failed_before == 1
    assert _runs("check", "ok") - ok_before == 1
    assert "scheduled command no_such_command failed" in caplog.text


@pytest.mark.django_db
def test_a_run_leaves_the_commands_output_in_the_log(caplog):
    caplog.set_level("INFO", logger="api.scheduler")

    assert scheduled_run(Every(command="check", minutes=15))

    assert "System check identified no issues" in caplog.text


def test_the_scheduler_runs_at_start_and_stops_on_sigterm(tmp_path):
    # An empty database: both commands fail (no tables), which is logged
    # and does not stop the scheduler.
    env = {"DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "scheduler"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(120, process.kill)  # a hung scheduler fails the test
    watchdog.start()
    seen = []
    ran: set[str] = set()
    for line in process.stdout:
        seen.append(line)
        for command in ("cleanup_stale_conferences", "maintain_partitions"):
            if f"scheduled command {command} " in line:
                ran.add(command)
        if len(ran) == 2:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    watchdog.cancel()

    assert process.returncode == 0
    assert any("scheduled command cleanup_stale_conferences failed" in line for line in seen)
    assert "scheduler stopped" in rest
