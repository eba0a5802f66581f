from __future__ import annotations

import json
import logging
import threading

from api.common.logs import (
    PlainFormatter,
    RequestContextFilter,
    app_identified,
    context_begin,
    json_formatter,
    redact,
)


def _record(message: str, *args) -> logging.LogRecord:
    record = logging.LogRecord("api.test", logging.WARNING, __file__, 1, message, args, None)
    RequestContextFilter().filter(record)
    return record


def test_a_json_line_carries_the_request_id_and_app_of_the_request_being_served(rf):
    context_begin(request_id="abc123", request=rf.get("/v1/stats"))
    app_identified("0f1e2d3c-0000-4000-8000-000000000000")

    line = json.loads(json_formatter().format(_record("refused %s", "a sample")))

    assert line["message"] == "refused a sample"
    assert line["level"] == "WARNING" and line["logger"] == "api.test"
    assert line["request_id"] == "abc123"
    assert line["app_id"] == "0f1e2d3c-0000-4000-8000-000000000000"
    assert line["time"].endswith("+00:00")


def test_a_record_of_another_thread_does_not_borrow_the_requests_context(rf):
    context_begin(request_id="abc123", request=rf.get("/v1/stats"))
    lines = []
    # The spool's forwarder, for instance, writes from a thread of its own.
    thread = threading.Thread(
        target=lambda: lines.append(json_formatter().format(_record("forwarded")))
    )
    thread.start()
    thread.join()

    line = json.loads(lines[0])

    assert (line["request_id"], line["app_id"], line["route"]) == (None, None, None)


def test_token_shaped_strings_never_reach_a_line():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uX2lkIjoieCJ9.c2lnbmF0dXJlLWJ5dGVz"
    personal = "pm_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1"

    plain = PlainFormatter("%(message)s").format(_record("token %s then %s", jwt, personal))
    structured = json_formatter().format(_record("Authorization: Bearer %s", "s3cr3t-value"))

    assert jwt not in plain and personal not in plain and plain.count("[redacted]") == 2
    assert "s3cr3t-value" not in structured


def test_ids_are_not_mistaken_for_secrets():
    line = "connection 9f1c1f8e00004000800000000000abcd of session 6f1c1f8e-0000-4000-8000-000000000000"

    assert redact(line) == line
