"""driving_mode: a driving mode the rule does not allow (no driverless running in a school zone)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from pilotzone.schemas.batch import DRIVING_MODES
from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, RuleKind, ZoneFacts
from pilotzone.zones.terms import DrivingMode, RuleBase


class DrivingModeRule(RuleBase):
    """A driving mode outside ``allowed_modes`` (for example no driverless operation in a school zone)."""

    kind: Literal["driving_mode"] = "driving_mode"
    allowed_modes: list[DrivingMode] = Field(min_length=1)
    grace_s: float = Field(default=0.0, ge=0, le=3600)


class DrivingModeKind(RuleKind[DrivingModeRule]):
    """The fix's mode is not in ``allowed_modes``; peak = seconds."""

    name = "driving_mode"
    model = DrivingModeRule
    overriding = True

    def parameters(self, rule: DrivingModeRule) -> str:
        return "allowed " + ", ".join(str(mode) for mode in rule.allowed_modes)

    def grace_ms(self, rule: DrivingModeRule) -> int:
        return round(rule.grace_s * 1000)

    def prepare(self, rule: DrivingModeRule, zone: ZoneFacts) -> BoolArray:
        """Allowed or not, per driving mode code of the telemetry schema."""
        return np.array([m in rule.allowed_modes for m in DRIVING_MODES], dtype=bool)

    def condition(
        self, rule: DrivingModeRule, prepared: Any, fixes: Fixes
    ) -> tuple[BoolArray, FloatArray | None]:
        return ~prepared[fixes.driving_mode], None

    def detail(self, rule: DrivingModeRule, prepared: Any, fixes: Fixes, row: int) -> str:
        return DRIVING_MODES[int(fixes.driving_mode[row])]

    def observed(
        self, rule: DrivingModeRule, *, area: str | None, detail: str, peak: float, duration: str
    ) -> str:
        return f"driving mode {detail} for {duration} s"


KIND = DrivingModeKind()
