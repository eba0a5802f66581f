"""The committed OpenAPI document (``docs/openapi.json``) and how it is
made from the code. CI fails when the two differ
(``api/query/tests/test_openapi.py``); regenerate with
``python manage.py export_openapi --output docs/openapi.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from api.query.api import api

COMMITTED = Path(settings.BASE_DIR) / "docs" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    return api.get_openapi_schema(path_prefix="/v1/")


def openapi_text() -> str:
    # Sorted keys and a fixed indent, so that a diff of the file is a diff
    # of the API.
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
