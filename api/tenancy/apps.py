from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _app_state_changed(sender, **kwargs) -> None:
    from api.tenancy.app_state import app_states_changed

    app_states_changed()


class TenancyConfig(AppConfig):
    name = "api.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        # Saves made outside the tenancy services (the admin, a shell) must
        # reach the SDK routes' per-process map of app states too.
        from api.tenancy.models import App, Organization

        for model in (App, Organization):
            post_save.connect(_app_state_changed, sender=model, dispatch_uid=f"app-state-{model}")
            post_delete.connect(
                _app_state_changed, sender=model, dispatch_uid=f"app-state-del-{model}"
            )
