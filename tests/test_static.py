"""Lint, format and type checks run with the tests, so CI enforces them.

mypy cannot follow setuptools' ``package-dir`` mapping (the folders are ``schemas/`` ... in the
repository and ``pilotzone.schemas`` ... once installed), so it is pointed at a folder of
symbolic links that spells the installed names.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGES = ("geo", "schemas", "zones", "pipelines")


def tool(name: str, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", name, *args]
    return subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        env={**os.environ, **environment},
    )


def test_ruff_finds_nothing() -> None:
    result = tool("ruff", "check", ".")
    assert result.returncode == 0, result.stdout


def test_ruff_format_leaves_everything_as_it_is() -> None:
    result = tool("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    (tmp_path / "pilotzone").mkdir()
    for package in PACKAGES:
        (tmp_path / "pilotzone" / package).symlink_to(REPOSITORY / package)
    result = tool("mypy", "--config-file", str(REPOSITORY / "pyproject.toml"), MYPYPATH=str(tmp_path))
    assert result.returncode == 0, result.stdout
