"""telemetry_gap: no fix from a vehicle for longer than ``max_gap_s`` of event time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotzone.zones.kinds.base import RuleKind
from pilotzone.zones.terms import RuleBase


class TelemetryGapRule(RuleBase):
    """No fix received from a vehicle for more than ``max_gap_s`` of event time."""

    kind: Literal["telemetry_gap"] = "telemetry_gap"
    max_gap_s: float = Field(gt=0, le=86400)


class TelemetryGap(RuleKind[TelemetryGapRule]):
    """Two consecutive fixes further apart than ``max_gap_s`` (strictly); peak = the gap's seconds.

    A gap is not a condition on fixes but on the silence between them, and it also ends
    every other kind's run (see ``zones.evaluate``).
    """

    name = "telemetry_gap"
    model = TelemetryGapRule
    overriding = True
    evaluation = "gap"

    def parameters(self, rule: TelemetryGapRule) -> str:
        return f"max gap {rule.max_gap_s:g} s"

    def max_silence_ms(self, rule: TelemetryGapRule) -> int:
        return round(rule.max_gap_s * 1000)


def silence_began(rule: TelemetryGapRule) -> str:
    """A gap known to have begun at a fix, as the first half of the OPENED explanation."""
    return f"no fix for more than {rule.max_gap_s:g} s after this one"


def silence_lasted(rule: TelemetryGapRule, seconds: float) -> str:
    """A gap ended by a later fix, as the first half of the CLOSED explanation."""
    return f"no fix for {seconds:g} s (more than {rule.max_gap_s:g} s)"


KIND = TelemetryGap()
