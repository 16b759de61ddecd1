"""The tests' own process hygiene: a timed-out CLI takes its children with it, and orphans are
adopted by the test process instead of outliving the run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.processes import parent_of, run_cli, stop_group


def wait_for_file(path: Path, timeout_s: float = 10.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written within {timeout_s:g} s")


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be collected."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_timed_out_cli_is_stopped_with_the_processes_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli(["sh", "-c", script], timeout=1)
    child = int(wait_for_file(pid_file))
    assert not alive(child), "the CLI's own child outlived the timeout"
    assert time.monotonic() - started < 15


def test_a_process_group_gets_sigterm_before_sigkill(tmp_path: Path) -> None:
    marker = tmp_path / "terminated"
    script = (
        f"trap 'echo term > {marker}; exit 0' TERM; echo up > {tmp_path / 'up'}; while :; do sleep 0.1; done"
    )
    process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    wait_for_file(tmp_path / "up")
    stop_group(process, grace_s=10)
    assert process.returncode == 0
    assert marker.read_text() == "term\n"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_orphans_of_a_test_are_adopted_by_the_test_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "orphan.pid"
    # The shell exits at once, leaving its background sleep without a parent.
    subprocess.run(["sh", "-c", f"sleep 300 > /dev/null 2>&1 & echo $! > {pid_file}"], check=True)
    orphan = int(wait_for_file(pid_file))
    try:
        assert parent_of(orphan) == os.getpid()
    finally:
        os.kill(orphan, signal.SIGKILL)
        os.waitpid(orphan, 0)
