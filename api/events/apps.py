from django.apps import AppConfig

from api.common.scheduling import Every


class EventsConfig(AppConfig):
    name = "api.events"
    label = "events"
    verbose_name = "Events"
    # Partitions for the coming days, days past the retention dropped; daily
    # is enough (a week is made ahead), and each start of the scheduler runs it.
    scheduled = [Every(minutes=24 * 60, command="maintain_partitions")]
