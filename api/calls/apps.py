from django.apps import AppConfig

from api.common.scheduling import Every


class CallsConfig(AppConfig):
    name = "api.calls"
    label = "calls"
    verbose_name = "Calls"
    # Per-app retention (App.retention_days): calls past it are deleted.
    scheduled = [Every(minutes=60, command="enforce_retention")]
