"""Processes the tests start, stopped with everything they started in turn.

A stream CLI starts its own engines (Prism's job server, Beam's Java expansion service) as
child processes. Killing only the CLI (``Popen.kill``, or ``subprocess.run``'s timeout, which
sends SIGKILL) orphans them: they outlive the test, hold ports and CPU, and once ran for 40
minutes after the run that started them. So a test's CLI runs in its own session and is stopped
by process group; and as a last line of defence the test process becomes the *subreaper* of
everything started under it, so orphans are reparented to it instead of to init, and
``stop_descendants`` stops whatever is left when the session ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pilotzone.pipelines.proctree import descendants

PR_SET_CHILD_SUBREAPER = 36
"""prctl(2) option: orphaned descendants are reparented to this process, not to init."""

STOP_GRACE_S = 10.0
"""How long a stopped process group gets between SIGTERM and SIGKILL."""


def become_subreaper() -> bool:
    """Adopt the tests' orphaned descendants (Linux); False where the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def parent_of(pid: int) -> int | None:
    """The parent of ``pid`` (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def command_of(pid: int) -> str:
    """A process's command line, for a message."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _signal_all(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _reap() -> None:
    """Collect exited adopted orphans so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def stop_descendants(grace_s: float = STOP_GRACE_S) -> list[str]:
    """Stop every process still running below this one; returns their command lines."""
    _reap()
    left = [pid for pid in descendants(os.getpid()) if not is_zombie(pid)]
    commands = [command_of(pid) for pid in left]
    _signal_all(left, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap()
        if not [pid for pid in left if parent_of(pid) is not None and not is_zombie(pid)]:
            break
        time.sleep(0.1)
    _signal_all([pid for pid in left if parent_of(pid) is not None], signal.SIGKILL)
    _reap()
    return commands


def is_zombie(pid: int) -> bool:
    """Exited but not yet collected by its parent (or gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def stop_group(process: subprocess.Popen[Any], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM a process started with ``start_new_session`` and everything in its group, then
    SIGKILL what is still there after ``grace_s``."""
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait_s)
            if signum == signal.SIGTERM:
                # The leader is gone; its helpers may not be: finish them off.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            return


@contextlib.contextmanager
def cli_process(command: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """A CLI started in its own session, stopped with its whole process group on leaving."""
    process = subprocess.Popen(list(command), start_new_session=True, **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            stop_group(process)
        else:
            # The CLI ended by itself; anything it left in its group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def run_cli(command: Sequence[str], timeout: float, **popen: Any) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(..., capture_output=True, text=True)`` whose timeout stops the CLI's
    whole process group, engines included, before raising."""
    with cli_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(process)
            out, err = process.communicate()
            raise subprocess.TimeoutExpired(list(command), timeout, output=out, stderr=err) from None
    return subprocess.CompletedProcess(list(command), process.returncode, out, err)
