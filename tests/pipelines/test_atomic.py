"""Output files are replaced in one step: a failed write leaves the old file and no debris."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pilotzone.pipelines.atomic import write_bytes_atomically, write_text_atomically


def test_writes_creates_folders_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.jsonl"
    write_text_atomically(path, "first\n")
    write_bytes_atomically(path, "zweite Zeile ü\n".encode())
    assert path.read_text(encoding="utf-8") == "zweite Zeile ü\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.jsonl"]


def test_the_file_gets_the_mode_the_umask_allows(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    write_text_atomically(tmp_path / "out.txt", "x")
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    not_bytes: Any = ["a list is not bytes"]
    with pytest.raises(TypeError):
        write_bytes_atomically(path, not_bytes)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"], "the temporary file is removed"
