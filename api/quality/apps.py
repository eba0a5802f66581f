from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "api.quality"
    label = "quality"
    verbose_name = "Call quality"

    def ready(self) -> None:
        from api.events.partitioning import partitioned_table_register
        from api.quality.models import METRIC_PARTITIONS

        partitioned_table_register(METRIC_PARTITIONS)
