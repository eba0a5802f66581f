from django.apps import AppConfig

from api.common.scheduling import Every


class CallsConfig(AppConfig):
    name = "api.calls"
    label = "calls"
    verbose_name = "Calls"
    # Calls whose clients never said goodbye (a crashed tab, a lost network).
    scheduled = [Every(minutes=15, command="cleanup_stale_conferences")]
