"""Last test of the suite (this file is collected last): no line the
server's log handler wrote during the whole run names a secret: no app's
api key, no SDK token (JWT), no personal API token, no configured secret,
no ICE password."""

from __future__ import annotations

import re

from django.conf import settings

from conftest import SUITE_LOG

_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # an SDK token
    r"|\bpm_[A-Za-z0-9_-]{20,}"  # a personal API token
    r"|a=ice-pwd:\S+"
)


def test_no_log_line_of_the_whole_suite_names_a_secret_or_a_key():
    config = settings.CONFIG
    secrets = {config.secret_key, config.init_token_secret, config.session_token_secret}
    secrets |= SUITE_LOG.api_keys
    secrets = {secret for secret in secrets if secret and len(secret) >= 16}

    leaking = [
        line
        for line in SUITE_LOG.lines
        if _SHAPES.search(line) or any(secret in line for secret in secrets)
    ]

    assert SUITE_LOG.lines, "the suite's log was not captured"
    assert not leaking, "\n".join(leaking[:10])
