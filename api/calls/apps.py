from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "api.calls"
    label = "calls"
    verbose_name = "Calls"
