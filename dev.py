#!/usr/bin/env python3
"""Zero-setup entry point: needs only Python 3.11.

    python3 dev.py serve   # venv + deps, migrate, demo org/app/admin, runserver on :8000
    python3 dev.py test    # venv + deps, the whole test suite (SQLite; PostgreSQL with DATABASE_URL)

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
    print("Installing dependencies (pinned in pyproject.toml) …", flush=True)
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            ".[dev]",
        ],
        cwd=ROOT,
        check=True,
    )
    STAMP.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.call([str(PYTHON), *args], cwd=ROOT)


def serve(args: list[str]) -> int:
    address = args[0] if args else "0.0.0.0:8000"
    for step in (["manage.py", "migrate", "--noinput"], ["manage.py", "quickstart"]):
        code = run(*step)
        if code:
            return code
    return run("manage.py", "runserver", address)


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
