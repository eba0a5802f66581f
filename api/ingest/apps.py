from django.apps import AppConfig

from api.common.scheduling import Every


class IngestConfig(AppConfig):
    name = "api.ingest"
    label = "ingest"
    verbose_name = "SDK ingest"
    # Calls whose clients never said goodbye (a crashed tab, a lost network).
    scheduled = [Every(minutes=15, command="cleanup_stale_conferences")]

    def ready(self) -> None:
        from api.common.metrics import scrape_collector_add
        from api.ingest import (
            cors,  # noqa: F401  (connects the CORS signal)
            gauges,
        )

        scrape_collector_add(gauges.queue_state)
        scrape_collector_add(gauges.calls_state)
