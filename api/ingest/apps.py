from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "api.ingest"
    label = "ingest"
    verbose_name = "SDK ingest"

    def ready(self) -> None:
        from api.ingest import cors  # noqa: F401  (connects the CORS signal)
