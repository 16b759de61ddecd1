"""A server process started by live mode: free ports, a bounded wait for its port, a sure stop.

The broker and the expansion service are long-running JVMs. Leaving one behind holds a port
and hundreds of megabytes, and a test that waits without a bound can hang CI; so every wait
here has a deadline, and ``stop`` always ends with the process gone (SIGTERM for a controlled
shutdown first, SIGKILL when that takes too long).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

LOCALHOST = "127.0.0.1"


class ProcessStartError(RuntimeError):
    """A server did not come up in time, or exited while starting; the message holds its log's end."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Another process may take it before ours binds it; that race is rare on a test machine and
    ends in a clear ``ProcessStartError``, which is why operators pass fixed ports instead.
    """
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return int(probe.getsockname()[1])


def port_is_open(port: int, host: str = LOCALHOST) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class ServerProcess:
    """One server process whose output goes to a log file.

    It runs in a session of its own so that a Ctrl-C meant for the command in the foreground
    does not reach it directly: the owner decides when and how it stops.
    """

    def __init__(self, name: str, command: Sequence[str], log_path: Path, *, cwd: Path | None = None) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self.cwd = cwd
        self.returncode: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the process (once)."""
        if self._process is not None:
            raise RuntimeError(f"{self.name} was started already")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,
            )

    def wait_for_port(self, port: int, timeout_s: float) -> float:
        """Seconds until ``port`` accepted a connection; stops the process and raises if it never does."""
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                self.stop()
                raise ProcessStartError(
                    f"{self.name} exited with {self.returncode} while starting:\n{self.log_tail()}"
                )
            if port_is_open(port):
                return time.monotonic() - started
            time.sleep(0.1)
        self.stop()
        raise ProcessStartError(
            f"{self.name} did not listen on port {port} within {timeout_s:g} s:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Stop the process: SIGTERM, at most ``timeout_s`` to exit, then SIGKILL. Returns its exit code.

        Safe to call more than once and on a process that already exited.
        """
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10.0)
        self.returncode = process.returncode
        return self.returncode

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the process's log, for error messages."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, os.path.getsize(self.log_path) - chars))
                return log.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(log {self.log_path} unreadable: {exc})"
