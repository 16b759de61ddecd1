"""Every vehicle's standing with every fence, for a stream that learns of fences as it runs.

``FenceJudge`` is what a streaming step keeps: the fences received so far and one
``VehicleFences`` per vehicle. A vehicle first judged after a fence arrived starts with it;
a fence arriving later is added to every vehicle already known, and a later version of a
known fence cuts the earlier one at its start (``zones.fences.versions``). Fed the same fixes in the
same time order per vehicle, with every fence known before the first fix it binds, it gives
the records ``series_fence_records`` gives a replay, and ``observations`` hands out what
``judge_series`` observes for the metrics (``zones.fences.figures``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pilotzone.zones.evaluate.records import IncidentRecord
from pilotzone.zones.fences.figures import FenceObservation, FenceProgress
from pilotzone.zones.fences.model import Fence
from pilotzone.zones.fences.tracker import VehicleFences
from pilotzone.zones.fences.versions import conflict_message, in_force_versions, version_conflict


@dataclass(frozen=True)
class Fixes:
    """Fixes of one vehicle, as the fence judge needs them (columns of equal length)."""

    vehicle_id: str
    vehicle_class: str
    operator_id: str
    sequence: npt.NDArray[np.int64]
    time_ms: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]

    def take(self, rows: npt.NDArray[np.intp]) -> Fixes:
        """The given rows, in the given order."""
        return Fixes(self.vehicle_id, self.vehicle_class, self.operator_id, self.sequence[rows],
                     self.time_ms[rows], self.lon[rows], self.lat[rows])  # fmt: skip

    @staticmethod
    def concat(parts: list[Fixes]) -> Fixes:
        """Parts of one vehicle as one, in time (then sequence) order; the first part's class and
        operator, as for the vehicle's other incidents."""
        first = parts[0]
        joined = Fixes(
            first.vehicle_id,
            first.vehicle_class,
            first.operator_id,
            np.concatenate([part.sequence for part in parts]),
            np.concatenate([part.time_ms for part in parts]),
            np.concatenate([part.lon for part in parts]),
            np.concatenate([part.lat for part in parts]),
        )
        return joined.take(np.lexsort((joined.sequence, joined.time_ms)))


@dataclass
class FenceJudge:
    """The fences known so far and each vehicle's standing with them (``fences``: distinct
    digests, versions already cut by their successors; add more with ``add_fence``)."""

    fences: list[Fence] = field(default_factory=list)
    vehicles: dict[str, VehicleFences] = field(default_factory=dict)
    judged_until_ms: dict[str, int] = field(default_factory=dict)
    """Per vehicle, the event time of its latest fix judged: an earlier one is too late."""
    wake_ms: int | None = None
    """When a streaming step holding this judge next wakes to judge pending fixes (its timer)."""
    reached_ms: int | None = None
    """The latest fix judged, of any vehicle: the event time the metrics' gauges stand at."""

    def add_fence(self, fence: Fence) -> str | None:
        """A fence received: binds every vehicle's fixes judged from now on; a new version of a
        known fence cuts the earlier one at its start (``zones.fences.versions``).

        Returns why it was refused (a different version from the same moment), or None when
        it was added or was known already (the same document again adds nothing).
        """
        if any(known.digest == fence.digest for known in self.fences):
            return None
        other = version_conflict(fence, self.fences)
        if other is not None:
            return conflict_message(fence, other)
        self.fences = in_force_versions([*self.fences, fence])
        for vehicle in self.vehicles.values():
            vehicle.update(self.fences)
        return None

    def judge(self, fixes: Fixes) -> tuple[list[IncidentRecord], int]:
        """Records of a vehicle's next fixes (time-ordered), and how many were too late to judge."""
        vehicle = self.vehicles.get(fixes.vehicle_id)
        if vehicle is None:
            vehicle = VehicleFences(self.fences, fixes.vehicle_id, fixes.vehicle_class, fixes.operator_id)
            self.vehicles[fixes.vehicle_id] = vehicle
        since = self.judged_until_ms.get(fixes.vehicle_id)
        late = 0
        if since is not None:
            keep = np.flatnonzero(fixes.time_ms >= since)
            late = len(fixes.time_ms) - len(keep)
            fixes = fixes.take(keep)
        if len(fixes.time_ms) == 0:
            return [], late
        self.judged_until_ms[fixes.vehicle_id] = int(fixes.time_ms[-1])
        self.reached_ms = max(int(fixes.time_ms[-1]), self.reached_ms or int(fixes.time_ms[-1]))
        return vehicle.process(fixes.time_ms, fixes.lon, fixes.lat), late

    def advance(self, watermark_ms: int) -> list[IncidentRecord]:
        """Close every incident of a fence that ended by ``watermark_ms``."""
        return [record for vehicle in self.vehicles.values() for record in vehicle.advance(watermark_ms)]

    def observations(self) -> list[FenceObservation]:
        """The stays opened or closed since the last call, every vehicle's, then the progress."""
        found: list[FenceObservation] = [
            span for vehicle in self.vehicles.values() for span in vehicle.take_spans()
        ]
        if self.reached_ms is not None:
            found.append(FenceProgress(self.reached_ms))
        return found

    def finish(self) -> list[IncidentRecord]:
        """End of input: what ``VehicleFences.finish`` gives, for every vehicle."""
        return [record for vehicle in self.vehicles.values() for record in vehicle.finish()]


__all__ = ["FenceJudge", "Fixes"]
