from django.apps import AppConfig

from api.common.scheduling import Every


class RollupsConfig(AppConfig):
    name = "api.rollups"
    label = "rollups"
    verbose_name = "Daily rollups"
    # Calls are summarised as they end; this recomputes the last two days
    # from those summaries (and summarises any call that ended without
    # being announced, e.g. while the process was being restarted).
    scheduled = [Every(minutes=60, command="rebuild_rollups", args=("--days", "2"))]
