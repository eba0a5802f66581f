from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "api.common"
    label = "common"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from api.common.logs import context_end

        request_finished.connect(context_end, dispatch_uid="api.common.logs.context_end")
