"""operating_hours: driving outside the permitted local time windows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, RuleKind, ZoneFacts
from pilotzone.zones.schedule import MINUTES_PER_DAY, describe_window, week_minutes
from pilotzone.zones.terms import WEEKDAYS, RuleBase, TimeWindow


class OperatingHoursRule(RuleBase):
    """Driving (any sample) outside the ``permitted`` local time windows, beyond ``grace_s``."""

    kind: Literal["operating_hours"] = "operating_hours"
    permitted: list[TimeWindow] = Field(min_length=1)
    grace_s: float = Field(default=0.0, ge=0, le=3600)


class OperatingHours(RuleKind[OperatingHoursRule]):
    """The local minute is outside every ``permitted`` window; peak = seconds."""

    name = "operating_hours"
    model = OperatingHoursRule
    overriding = True

    def parameters(self, rule: OperatingHoursRule) -> str:
        return "permitted " + "; ".join(describe_window(w) for w in rule.permitted)

    def grace_ms(self, rule: OperatingHoursRule) -> int:
        return round(rule.grace_s * 1000)

    def prepare(self, rule: OperatingHoursRule, zone: ZoneFacts) -> BoolArray:
        """The permitted minutes of the week (schedules are read to the minute)."""
        return week_minutes(rule.permitted)

    def condition(
        self, rule: OperatingHoursRule, prepared: Any, fixes: Fixes
    ) -> tuple[BoolArray, FloatArray | None]:
        return ~prepared[fixes.minute_of_week], None

    def detail(self, rule: OperatingHoursRule, prepared: Any, fixes: Fixes, row: int) -> str:
        week_minute = int(fixes.minute_of_week[row])
        day = str(WEEKDAYS[week_minute // MINUTES_PER_DAY])
        return f"{day} {week_minute % MINUTES_PER_DAY // 60:02d}:{week_minute % 60:02d}"

    def observed(
        self, rule: OperatingHoursRule, *, area: str | None, detail: str, peak: float, duration: str
    ) -> str:
        return f"driving from {detail} local time, outside the permitted hours, for {duration} s"


KIND = OperatingHours()
