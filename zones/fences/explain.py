"""Which emergency fences cover a point, and what each asks of a vehicle there at a moment.

``pilotzone zones explain --fences`` answers a vehicle maker's or an operator's question
"may my vehicle be here now, and by when must it leave?" with the rules of the fence judge
(``zones.fences.tracker``), so the answer is what the monitor would decide:

* the point counts as covered on the polygon's edge too (``intersects``, as the judge);
* a fence binds only its ``vehicle_classes``, from ``effective_from`` until ``until``
  (exclusive);
* a vehicle inside when the fence took effect must be out by ``effective_from +
  exit_within_s``; a vehicle that entered after it took effect is in breach at once. Which of
  the two a vehicle is depends on its earlier fixes, which a point and a moment do not say,
  so both deadlines are given.

A fence that covers the point but is not in force at the moment is listed too, with when it
takes effect or when it ended: an operator planning a route wants to know both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import shapely

from pilotzone.zones.fences.model import Fence


class FenceState(StrEnum):
    """Where a moment stands with a fence."""

    IN_FORCE = "in_force"
    PENDING = "pending"
    """Not yet: the fence takes effect later."""
    ENDED = "ended"


@dataclass(frozen=True)
class FenceAtPoint:
    """One fence that covers the point, seen from the moment ``at_ms``."""

    fence: Fence
    state: FenceState
    binds: bool
    """Whether the fence binds the vehicle class asked about."""
    at_ms: int

    @property
    def deadline_inside_at_start_ms(self) -> int:
        """When a vehicle inside as the fence took effect must be out (ms since 1970)."""
        return self.fence.start_ms + round(self.fence.document.exit_within_s * 1000)

    @property
    def seconds_left(self) -> float:
        """Seconds from the moment to that deadline; negative once it has passed."""
        return (self.deadline_inside_at_start_ms - self.at_ms) / 1000


def fences_at_point(
    fences: Sequence[Fence], lon: float, lat: float, at_ms: int, vehicle_class: str
) -> list[FenceAtPoint]:
    """The fences whose polygon covers (lon, lat), in force first, then by start and id."""
    found = [
        FenceAtPoint(fence, _state(fence, at_ms), vehicle_class in fence.document.vehicle_classes, at_ms)
        for fence in fences
        if bool(shapely.intersects_xy(fence.geometry, lon, lat))
    ]
    order = list(FenceState)
    return sorted(found, key=lambda f: (order.index(f.state), f.fence.start_ms, f.fence.fence_id))


def _state(fence: Fence, at_ms: int) -> FenceState:
    if at_ms < fence.start_ms:
        return FenceState.PENDING
    if at_ms >= fence.end_ms:
        return FenceState.ENDED
    return FenceState.IN_FORCE


__all__ = ["FenceAtPoint", "FenceState", "fences_at_point"]
