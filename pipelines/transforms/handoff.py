"""Handing large values from one step to a later one through the process, when both run in it.

A replay's decoded chunks (~85 bytes a sample) cross a GroupByKey on their way to the
evaluation. On the in-process FnApiRunner that costs a dozen copies of every byte: encoding,
the data channel, the runner's grouping buffer (decoded, re-encoded, cut for the worker),
the channel again and decoding -- about half a second of a 6-second replay of 1.2 million
samples, more than any other part of Beam's own work. When the runner's worker is this very
process, the chunk can stay where it is: the first step *parks* it here and sends a small
integer token through the GroupByKey instead, and the evaluation *takes* it back.

Only for runners whose workers are this process (``runs_in_this_process``): a token means
nothing in another process. A token that is not here (a worker in another process, a bundle
run twice) raises ``HandoffError`` rather than losing samples. Parked values belong to one
run (``InProcessHandoff``); ``discard`` frees what a failed run left behind.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from typing import Any

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

_PARKED: dict[str, dict[int, Any]] = {}
"""Values parked in this process: by run, then by token."""

_TOKENS = itertools.count()
_LOCK = threading.Lock()


class HandoffError(RuntimeError):
    """A token whose value is not in this process."""


def runs_in_this_process(options: PipelineOptions) -> bool:
    """Whether the pipeline's steps all run in this process: the FnApiRunner in memory or
    on threads (``direct``), not its worker processes (``direct-multiprocess``)."""
    runner = options.view_as(StandardOptions).runner
    mode = options.view_as(DirectOptions).direct_running_mode
    return runner == "FnApiRunner" and mode in ("in_memory", "multi_threading")


class InProcessHandoff:
    """The parked values of one run. Pickles as its run id: the steps that park and take
    carry it, and find the values in the process they run in."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex

    def park(self, value: Any) -> int:
        """Keep ``value`` here; the token to take it back with."""
        token = next(_TOKENS)
        with _LOCK:
            _PARKED.setdefault(self.run, {})[token] = value
        return token

    def take(self, token: int) -> Any:
        """The value parked under ``token``, which is no longer kept."""
        with _LOCK:
            try:
                return _PARKED[self.run].pop(token)
            except KeyError:
                raise HandoffError(
                    f"value {token} of run {self.run} is not in this process: an in-process handoff "
                    "needs a runner whose workers are the launching process (runner direct, not "
                    "direct-multiprocess)"
                ) from None

    def parked(self) -> int:
        """How many values of this run are parked (not yet taken)."""
        with _LOCK:
            return len(_PARKED.get(self.run, {}))

    def discard(self) -> None:
        """Forget whatever this run left parked (after it ended, however it ended)."""
        with _LOCK:
            _PARKED.pop(self.run, None)


__all__ = ["HandoffError", "InProcessHandoff", "runs_in_this_process"]
