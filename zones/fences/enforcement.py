"""From when a running monitor enforced a fence: the accountability record of each fence.

A fence's ``effective_from`` says when it binds by event time; a regulator also needs to know
when the monitor actually had it and first applied it, because a fence published while
vehicles drive binds only the fixes judged after it reached the judge
(``pipelines.transforms.fences``). So the stream's judge notes, per fence (by digest):

* ``RECEIVED``: the processing time at which the judge first had the fence (for the fences in
  the folder when the stream starts: at its first poll of the folder, or its first judgement);
* ``ENFORCED``: the event time of the first fix it judged under the fence (a fix of a class the
  fence binds, inside ``[effective_from, until)``, wherever the vehicle was) and the processing
  time of that judgement. From then on every fix of those classes is judged against it.

The records name the fence and its digest, never a vehicle: they are public. The clock is
passed in (seconds since the epoch, as ``time.time``), so the records are tested exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pilotzone.zones.evaluate.records import rfc3339_ms
from pilotzone.zones.fences.model import Fence

RECEIVED = "RECEIVED"
ENFORCED = "ENFORCED"
ENFORCEMENT_STATUSES = (RECEIVED, ENFORCED)
"""A fence's records in the order they happen (each at most once per digest and run)."""


@dataclass(frozen=True)
class EnforcementRecord:
    """One step of one fence's enforcement by a running monitor (module docstring)."""

    status: str
    fence_id: str
    digest: str
    pilot_zone: str
    effective_from_ms: int
    received_at_s: float
    first_fix_ms: int | None = None
    judged_at_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the stream writes it: RFC 3339 times, milliseconds, UTC."""
        return {
            "status": self.status,
            "fence_id": self.fence_id,
            "digest": self.digest,
            "pilot_zone": self.pilot_zone,
            "effective_from": rfc3339_ms(self.effective_from_ms),
            "received_at": rfc3339_ms(round(self.received_at_s * 1000)),
            "first_fix_time": None if self.first_fix_ms is None else rfc3339_ms(self.first_fix_ms),
            "judged_at": None if self.judged_at_s is None else rfc3339_ms(round(self.judged_at_s * 1000)),
        }


def enforcement_sort_key(row: dict[str, Any]) -> tuple[str, str, int]:
    """Within a file: by reception, fence, then in the order the steps happen."""
    return (row["received_at"], row["fence_id"], ENFORCEMENT_STATUSES.index(row["status"]))


def first_fix_in_force(fence: Fence, times_ms: npt.NDArray[np.int64]) -> int | None:
    """The earliest of ``times_ms`` at which ``fence`` is in force (None if none is)."""
    in_force = times_ms[(times_ms >= fence.start_ms) & (times_ms < fence.end_ms)]
    return int(in_force.min()) if len(in_force) else None


@dataclass
class EnforcementLog:
    """What a streaming judge keeps to write each fence's records once: when it received each
    fence, and which it has enforced."""

    received_at_s: dict[str, float] = field(default_factory=dict)
    enforced: set[str] = field(default_factory=set)

    def receive(self, fence: Fence, now_s: float) -> list[EnforcementRecord]:
        """A fence reached the judge: its ``RECEIVED`` record, the first time only."""
        if fence.digest in self.received_at_s:
            return []
        self.received_at_s[fence.digest] = now_s
        return [_record(RECEIVED, fence, now_s)]

    def judged(
        self, fences: Iterable[Fence], times_ms: npt.NDArray[np.int64], now_s: float
    ) -> list[EnforcementRecord]:
        """A vehicle's fixes at ``times_ms`` were judged against ``fences`` (those binding its
        class) at ``now_s``: the ``ENFORCED`` record of each fence they are the first to be
        judged under."""
        records = []
        for fence in fences:
            if fence.digest in self.enforced:
                continue
            first = first_fix_in_force(fence, times_ms)
            if first is None:
                continue
            self.enforced.add(fence.digest)
            received = self.received_at_s.setdefault(fence.digest, now_s)
            records.append(_record(ENFORCED, fence, received, first, now_s))
        return records


def _record(
    status: str, fence: Fence, received_s: float, first_ms: int | None = None, judged_s: float | None = None
) -> EnforcementRecord:
    return EnforcementRecord(
        status,
        fence.fence_id,
        fence.digest,
        fence.document.pilot_zone,
        fence.start_ms,
        received_s,
        first_ms,
        judged_s,
    )


__all__ = [
    "ENFORCED",
    "ENFORCEMENT_STATUSES",
    "RECEIVED",
    "EnforcementLog",
    "EnforcementRecord",
    "enforcement_sort_key",
    "first_fix_in_force",
]
