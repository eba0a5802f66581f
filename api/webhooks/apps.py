from django.apps import AppConfig

from api.common.scheduling import Every


class WebhooksConfig(AppConfig):
    name = "api.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    # The delivery log and the task rows do not grow for ever.
    scheduled = [Every(minutes=24 * 60, command="prune_webhooks")]

    def ready(self) -> None:
        from api.webhooks import receivers  # noqa: F401  (connects the quality signals)
