"""Lint and type checks as part of the README's test command (what CI runs): ruff and mypy on the repo.

Both read their configuration from pyproject.toml. mypy keeps its cache in .mypy_cache (git-ignored), so
a warm run takes a few seconds; a cold one (fresh CI clone) under ten.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.fail(f"{tool} is not installed beside {sys.executable}: pip install -r requirements-dev.txt")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_reports_nothing():
    result = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_reports_nothing():
    result = _run("mypy", "--python-executable", sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr
