"""The smallest WSGI app that reads an SDK-sized body and answers ``""``:
granian's own cost per request, which bench/granian_floor.sh compares with
the same request through Django (the no-op route) and the bare stats lane."""


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response(
        "200 OK", [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", "2")]
    )
    return [b'""']
