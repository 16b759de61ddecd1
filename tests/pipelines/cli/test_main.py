"""The ``pilotzone`` entry point itself, whatever the sub-command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pilotzone.pipelines.cli import SIGPIPE_STATUS

CONFIGS = Path(__file__).resolve().parents[3] / "zones" / "configs"


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """``pilotzone ... | head``: the pipe closes before the output is written."""
    command = [sys.executable, "-m", "pilotzone.pipelines.cli", "zones", "check", str(CONFIGS), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == SIGPIPE_STATUS == 141
    assert errors == ""


def test_the_same_command_read_to_the_end_succeeds() -> None:
    command = [sys.executable, "-m", "pilotzone.pipelines.cli", "zones", "check", str(CONFIGS), "--json"]
    done = subprocess.run(command, capture_output=True, check=False, timeout=120)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout.startswith(b"{") or done.stdout.startswith(b"[")
