#!/usr/bin/env python3
"""Zero-setup entry point: needs only Python 3.11.

    python3 dev.py serve [PORT | HOST:PORT]   # venv + deps, migrate, demo org/app/admin,
                                             # runserver on 127.0.0.1:8000 unless told otherwise
    python3 dev.py test [PYTEST ARGS]        # venv + deps, the whole test suite
                                             # (SQLite; PostgreSQL with DATABASE_URL)

The virtual environment lives in .venv and is reused; it is reinstalled when
pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".installed"


def ensure_venv() -> None:
    if sys.version_info[:2] != (3, 11):
        print(
            f"warning: Python 3.11 is supported, this is {sys.version.split()[0]}", file=sys.stderr
        )
    if not PYTHON.exists():
        print("Creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print(
        "Installing the dependencies pinned in pyproject.toml into .venv "
        "(a minute or two the first time) …",
        flush=True,
    )
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-e", ".[dev]"],
        cwd=ROOT,
        check=True,
    )
    STAMP.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.call([str(PYTHON), *args], cwd=ROOT)


def _address(arg: str | None) -> tuple[str, str]:
    """The address to listen on and the URL to open, from ``PORT`` or
    ``HOST:PORT`` (default 127.0.0.1:8000: not reachable from other machines)."""
    host, _, port = (arg or "8000").rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::", "::1", "localhost"} else host
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return listen, f"http://{shown}:{port}/"


def serve(args: list[str]) -> int:
    listen, url = _address(args[0] if args else None)
    print("Applying the database migrations …", flush=True)
    code = run("manage.py", "migrate", "--noinput", "-v", "0")
    if code:
        return code
    code = run("manage.py", "quickstart", "--url", url)
    if code:
        return code
    print(
        "  Development server: SQLite and secrets in ./data (delete it to start afresh), "
        "DEBUG on.\n  Stop it with Ctrl-C.\n",
        flush=True,
    )
    return run("manage.py", "runserver", listen)


def test(args: list[str]) -> int:
    return run("-m", "pytest", *args)


def main() -> int:
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    ensure_venv()
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
