"""dwell: stopped in one place for longer than ``max_dwell_s``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
from pydantic import Field

from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, RuleKind
from pilotzone.zones.terms import RuleBase

DWELL_RESUME_MARGIN_KMH = 1.0
"""A stop ends only when speed reaches ``stopped_below_kmh`` plus this margin."""


class DwellRule(RuleBase):
    """Stopped (speed below ``stopped_below_kmh``) for more than ``max_dwell_s`` in one place."""

    kind: Literal["dwell"] = "dwell"
    max_dwell_s: float = Field(gt=0, le=86400)
    stopped_below_kmh: float = Field(default=1.0, gt=0, le=20)


class Dwell(RuleKind[DwellRule]):
    """Stopped, with hysteresis (``stop_states``); an incident only after *more than*
    ``max_dwell_s``; peak = seconds."""

    name = "dwell"
    model = DwellRule
    overriding = True
    grace_exclusive = True

    def parameters(self, rule: DwellRule) -> str:
        return f"max {rule.max_dwell_s:g} s stopped"

    def grace_ms(self, rule: DwellRule) -> int:
        return round(rule.max_dwell_s * 1000)

    def stop_threshold_kmh(self, rule: DwellRule) -> float:
        return rule.stopped_below_kmh

    def condition(self, rule: DwellRule, prepared: Any, fixes: Fixes) -> tuple[BoolArray, FloatArray | None]:
        return fixes.stopped[rule.stopped_below_kmh], None

    def observed(self, rule: DwellRule, *, area: str | None, detail: str, peak: float, duration: str) -> str:
        return f"stopped (below {rule.stopped_below_kmh:g} km/h) for {duration} s"


def stop_states(
    speed: FloatArray, thresholds: Iterable[float], carried: Mapping[float, bool] | None
) -> dict[float, BoolArray]:
    """Per threshold, whether the vehicle is stopped at each fix (a Schmitt trigger).

    A stop starts below the threshold and lasts until speed reaches the threshold plus
    ``DWELL_RESUME_MARGIN_KMH``, so speed noise around the threshold does not end it.
    ``carried`` is the state at fix 0 (the previous chunk's last fix), None if fix 0 is new.
    """
    states: dict[float, BoolArray] = {}
    index = np.arange(len(speed))
    for low in thresholds:
        stop = speed < low
        decisive = stop | (speed >= low + DWELL_RESUME_MARGIN_KMH)
        if carried is not None:
            stop[0] = carried.get(low, False)
            decisive[0] = True
        latest = np.maximum.accumulate(np.where(decisive, index, -1))
        states[low] = (latest >= 0) & stop[np.maximum(latest, 0)]
    return states


KIND = Dwell()
