from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "api.quality"
    label = "quality"
    verbose_name = "Call quality"
