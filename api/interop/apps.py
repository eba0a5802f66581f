from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "api.interop"
    label = "interop"
    verbose_name = "Import and export"
