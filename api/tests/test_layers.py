"""The layers of STYLE.md, as the import-linter contract in pyproject.toml
checks them: the tree keeps them, and an upward import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from api import env

ROOT = Path(env.BASE_DIR)
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with this repository's contract, on ``tree`` (a
    folder holding an ``api`` package)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def scratch_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "api", tmp_path / "api", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_apps_import_only_their_own_layer_and_the_layers_below(tmp_path):
    result = lint_imports(scratch_copy(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_a_lower_app_that_imports_a_higher_one_breaks_the_contract(tmp_path):
    # Given the lifecycle (calls) reaching up into the stats sink (ingest)
    tree = scratch_copy(tmp_path)
    (tree / "api" / "calls" / "upward.py").write_text(
        "from api.ingest.sinks import connections_ended  # noqa: F401\n"
    )

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "api.calls is not allowed to import api.ingest" in result.stdout
    assert "api.calls.upward -> api.ingest.sinks" in result.stdout
