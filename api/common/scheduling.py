"""Periodic commands, run by ``manage.py scheduler`` (no cron needed).

An app schedules a management command of its own by listing it in its
AppConfig::

    class CallsConfig(AppConfig):
        scheduled = [Every(minutes=15, command="cleanup_stale_conferences")]

Every scheduled command must be idempotent and safe to run late, twice or
concurrently: the scheduler runs each at start and then every interval, a
restart runs them again, and two schedulers (by mistake) do no harm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps


@dataclass(frozen=True)
class Every:
    command: str
    minutes: float
    args: tuple[str, ...] = field(default=())

    @property
    def seconds(self) -> float:
        return self.minutes * 60


def scheduled_commands() -> list[Every]:
    """What the installed apps schedule, in app order."""
    return [job for config in apps.get_app_configs() for job in getattr(config, "scheduled", ())]
