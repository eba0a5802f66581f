"""WSGI entry point: ``gunicorn api.wsgi:application`` or
``granian --interface wsgi api.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")

_django = get_wsgi_application()  # sets Django up: imports below need the app registry

from api.ingest.handler import with_sdk_lane  # noqa: E402

application = with_sdk_lane(_django)
