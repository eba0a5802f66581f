"""Requests through the production WSGI application (``api.wsgi.application``,
or one built the same way), lanes and overload control included, as granian
or gunicorn would send them."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


def production_application() -> Callable:
    """A new application built as ``api.wsgi`` builds it, with the settings
    of now (middleware read their settings when they are built, as Django's
    test client builds its handler per client)."""
    from api.ingest.handler import with_sdk_lane

    return with_sdk_lane(WSGIHandler())


def wsgi_call(application: Callable, environ: dict) -> tuple[str, list, bytes]:
    """One request through ``application``: its status line, headers and
    body."""
    started: list = []
    # As Django's test client does: a request must not close the database
    # connection that holds the test's transaction.
    was_connected = request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(
            environ, lambda status, headers, *exc: started.append((status, headers))
        )
        answer = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
    finally:
        if was_connected:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
    status, header_list = started[0]
    return status, header_list, answer


def wsgi(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, dict, bytes]:
    """One request through ``api.wsgi.application``."""
    from api.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    status, header_list, answer = wsgi_call(application, environ)
    return status, {name.lower(): value for name, value in header_list}, answer
