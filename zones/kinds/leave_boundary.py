"""leave_boundary: outside the zone's operating boundary for longer than the grace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, RuleKind, one_decimal
from pilotzone.zones.terms import OperatorPermit, RuleBase


class LeaveBoundaryRule(RuleBase):
    """Being outside the zone's operating boundary for more than ``grace_s``."""

    kind: Literal["leave_boundary"] = "leave_boundary"
    grace_s: float = Field(default=10.0, ge=0, le=3600)


class LeaveBoundary(RuleKind[LeaveBoundaryRule]):
    """Outside the boundary by more than the fix's horizontal accuracy; peak = metres outside.

    A fix within its accuracy of the edge does not count: GPS noise along the boundary
    must not raise incidents (hysteresis).
    """

    name = "leave_boundary"
    model = LeaveBoundaryRule
    overriding = False
    peak_unit = "m outside"
    only_outside_boundary = True

    def parameters(self, rule: LeaveBoundaryRule) -> str:
        return f"stay inside the boundary, grace {rule.grace_s:g} s"

    def grace_ms(self, rule: LeaveBoundaryRule) -> int:
        return round(rule.grace_s * 1000)

    def condition(
        self, rule: LeaveBoundaryRule, prepared: Any, fixes: Fixes
    ) -> tuple[BoolArray, FloatArray | None]:
        outside = fixes.metres_outside()
        return outside > fixes.accuracy_m, outside

    def observed(
        self, rule: LeaveBoundaryRule, *, area: str | None, detail: str, peak: float, duration: str
    ) -> str:
        return f"{one_decimal(peak)} m outside the zone boundary for {duration} s"

    def why_in_force(
        self, rule: LeaveBoundaryRule, *, place: str, vehicle_class: str, operators: Sequence[OperatorPermit]
    ) -> str:
        return "the point is outside the zone boundary"


KIND = LeaveBoundary()
