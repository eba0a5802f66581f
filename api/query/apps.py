from django.apps import AppConfig


class QueryConfig(AppConfig):
    name = "api.query"
    label = "query"
