"""Requests through the production WSGI application (``api.wsgi.application``),
lanes and overload control included, as granian or gunicorn would send them."""

from __future__ import annotations

import io

from django.core.signals import request_finished, request_started
from django.db import close_old_connections


def wsgi(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, dict, bytes]:
    """One request through ``api.wsgi.application``, as granian or gunicorn
    would call it."""
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
    started: list = []
    # As Django's test client does: a request must not close the database
    # connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(
            environ, lambda status, headers, *exc: started.append((status, headers))
        )
        answer = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    status, header_list = started[0]
    return status, {name.lower(): value for name, value in header_list}, answer
