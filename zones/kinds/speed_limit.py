"""speed_limit: faster than the limit plus its tolerance for longer than the grace."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, RuleKind, one_decimal
from pilotzone.zones.terms import RuleBase


class SpeedLimitRule(RuleBase):
    """Speed above ``limit_kmh`` + ``tolerance_kmh`` sustained for more than ``grace_s``."""

    kind: Literal["speed_limit"] = "speed_limit"
    limit_kmh: float = Field(gt=0, le=200)
    tolerance_kmh: float = Field(default=0.0, ge=0, le=50)
    grace_s: float = Field(default=5.0, ge=0, le=600)


class SpeedLimit(RuleKind[SpeedLimitRule]):
    """Condition ``speed_kmh > limit_kmh + tolerance_kmh``; peak = km/h over the limit."""

    name = "speed_limit"
    model = SpeedLimitRule
    overriding = True
    peak_unit = "km/h over the limit"

    def parameters(self, rule: SpeedLimitRule) -> str:
        tolerance = f" (+{rule.tolerance_kmh:g} tolerance)" if rule.tolerance_kmh else ""
        return f"{rule.limit_kmh:g} km/h{tolerance}"

    def grace_ms(self, rule: SpeedLimitRule) -> int:
        return round(rule.grace_s * 1000)

    def condition(
        self, rule: SpeedLimitRule, prepared: Any, fixes: Fixes
    ) -> tuple[BoolArray, FloatArray | None]:
        return fixes.speed_kmh > rule.limit_kmh + rule.tolerance_kmh, fixes.speed_kmh - rule.limit_kmh

    def observed(
        self, rule: SpeedLimitRule, *, area: str | None, detail: str, peak: float, duration: str
    ) -> str:
        over = one_decimal(peak)
        return f"{one_decimal(rule.limit_kmh + peak)} km/h ({over} km/h over the limit) for {duration} s"


KIND = SpeedLimit()
