"""A wall-clock bound for a block of test code, so a regression fails instead of hanging the suite."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from types import FrameType


class DeadlineExceededError(AssertionError):
    """The block ran past its deadline."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block (main thread, Python code) once ``seconds`` have passed.

    The bounds asserted by the tests are far tighter; this only turns a regression that
    would run for minutes (an alias bomb, quadratic warnings) into a failure.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DeadlineExceededError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Measure the block; the elapsed seconds are in the yielded list's first item afterwards."""
    elapsed: list[float] = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - start
