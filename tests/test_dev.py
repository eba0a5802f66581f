"""dev.py, the two-command front door."""

from __future__ import annotations

import importlib.util

import pytest

from tests.server import ROOT


def _dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("arg", "listen", "url"),
    [
        (None, "127.0.0.1:8000", "http://localhost:8000/"),
        ("18200", "127.0.0.1:18200", "http://localhost:18200/"),
        ("0.0.0.0:8000", "0.0.0.0:8000", "http://localhost:8000/"),
        ("192.0.2.10:9000", "192.0.2.10:9000", "http://192.0.2.10:9000/"),
        ("[::]:8000", "[::]:8000", "http://localhost:8000/"),
    ],
)
def test_serve_listens_on_loopback_unless_told_and_shows_a_url_a_browser_opens(arg, listen, url):
    assert _dev()._address(arg) == (listen, url)


def test_the_readme_quickstart_is_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]

    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]

    assert commands == ["python3 dev.py serve", "python3 dev.py test"]
