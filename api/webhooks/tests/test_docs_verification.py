"""The signature checks docs/interop.md gives receivers (Python standard
library, Node) verify what the server signs, and refuse a changed body."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import time

import pytest
from django.conf import settings

from api.webhooks import signing

DOC = (settings.BASE_DIR / "docs" / "interop.md").read_text()


def _block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)
    return next(b for b in blocks if containing in b)


def _signed(body: bytes) -> tuple[str, dict[str, str]]:
    secret = signing.secret_new()
    headers = signing.headers(
        secret=secret, message_id="msg_test", timestamp=int(time.time()), body=body
    )
    return secret, headers


BODY = b'{"type":"issue.raised","timestamp":"2026-12-03T12:00:00Z","data":{"issue":{}}}'


def test_the_python_example_verifies_a_signed_body():
    namespace: dict = {}
    exec(_block("python", "def verify"), namespace)  # noqa: S102  (the documented code)
    secret, headers = _signed(BODY)

    assert namespace["verify"](secret, headers, BODY) is True
    assert namespace["verify"](secret, headers, BODY + b" ") is False
    assert namespace["verify"](signing.secret_new(), headers, BODY) is False


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_node_example_verifies_a_signed_body(tmp_path):
    script = tmp_path / "verify.js"
    script.write_text(
        _block("js", "function verify")
        + "\nconst [secret, id, stamp, signature, body] = process.argv.slice(2)\n"
        + "const headers = {'webhook-id': id, 'webhook-timestamp': stamp, 'webhook-signature': signature}\n"
        + "console.log(verify(secret, headers, Buffer.from(body, 'base64')))\n"
    )
    secret, headers = _signed(BODY)

    def run(body: bytes, key: str = secret) -> str:
        args = [headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]]
        done = subprocess.run(
            ["node", str(script), key, *args, base64.b64encode(body).decode()],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    assert run(BODY) == "true"
    assert run(BODY + b" ") == "false"
    assert run(BODY, signing.secret_new()) == "false"
