"""Where an accepted stats sample goes: the sink of ``INGEST_SINK``.

* :mod:`.direct`: analysed and stored in the request.
* :mod:`.queued`: appended to a spool and a Redis stream in the request,
  analysed and stored by ``manage.py ingest_worker`` (:mod:`api.ingest.worker`).

Both authorise a sample against its connection (:mod:`.connections`);
:mod:`.codec` is the queued sink's message.
"""

from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from api.ingest.sinks import connections, queued
from api.ingest.sinks.direct import DirectSink
from api.ingest.sinks.queued import QueuedSink

_queued_sinks: list[QueuedSink] = []


@functools.cache
def current_sink() -> DirectSink | QueuedSink:
    if settings.CONFIG.ingest_sink != "queued":
        return DirectSink()
    sink = QueuedSink()
    _queued_sinks.append(sink)
    return sink


def connections_ended(connection_ids: list[uuid.UUID]) -> None:
    """Connections ended (called after the ending transaction commits): stop
    accepting their samples, in this process at once and, through Redis
    (when configured), in every process."""
    connections.connections_forget(connection_ids)
    queued.connections_mark_ended(connection_ids)


@receiver(setting_changed)
def _sink_settings_changed(setting: str, **kwargs) -> None:
    if setting == "CONFIG":
        for sink in _queued_sinks:
            sink.close()
        _queued_sinks.clear()
        current_sink.cache_clear()
        queued.redis_client.cache_clear()
        connections.cache_clear()
