"""vehicle_event: an incident for every event the vehicle reports (disengagement, collision ...)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pilotzone.zones.kinds.base import RuleKind
from pilotzone.zones.terms import EventKind, Initiator, RuleBase


class VehicleEventRule(RuleBase):
    """An incident for every vehicle-reported ``event`` (optionally only for some initiators)."""

    kind: Literal["vehicle_event"] = "vehicle_event"
    event: EventKind
    initiated_by: list[Initiator] | None = None
    report_within_h: float | None = Field(
        default=None,
        gt=0,
        le=24 * 90,
        description="Hours the operator has to report the incident to the regulator.",
    )


class VehicleEvent(RuleKind[VehicleEventRule]):
    """Each reported event with a winning rule for its kind (and initiator: an event without
    one matches every rule) is an incident opened and closed at the fix; peak null.

    Rules override only rules about the same event.
    """

    name = "vehicle_event"
    model = VehicleEventRule
    overriding = True
    evaluation = "event"
    peak_unit = ""
    subject_needed = "the event kind (event=EventKind.COLLISION ...)"

    def parameters(self, rule: VehicleEventRule) -> str:
        by = f" by {', '.join(str(i) for i in rule.initiated_by)}" if rule.initiated_by else ""
        deadline = f", report within {rule.report_within_h:g} h" if rule.report_within_h is not None else ""
        return f"{rule.event}{by}{deadline}"

    def subject(self, rule: VehicleEventRule) -> str:
        return str(rule.event)

    def covers_initiator(self, rule: VehicleEventRule, initiator: Initiator | str) -> bool:
        return rule.initiated_by is None or initiator in rule.initiated_by

    def initiators_overlap(self, first: VehicleEventRule, second: VehicleEventRule) -> bool:
        a, b = first.initiated_by, second.initiated_by
        return a is None or b is None or bool(set(a) & set(b))

    def report_deadline_ms(self, rule: VehicleEventRule, start_ms: int) -> int | None:
        if rule.report_within_h is None:
            return None
        return start_ms + round(rule.report_within_h * 3_600_000)


def reported(event: str, initiator: str | None) -> str:
    """A reported event, as the first half of its incident's explanation."""
    by = "initiator not given" if initiator is None else f"initiated by {initiator}"
    return f"{event} reported ({by})"


KIND = VehicleEvent()
