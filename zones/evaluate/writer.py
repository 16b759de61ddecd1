"""Making one vehicle's incident records, and counting each opened incident in its window."""

from __future__ import annotations

from pilotzone.schemas.batch import VEHICLE_CLASSES
from pilotzone.zones.evaluate.records import IncidentRecord, incident_id
from pilotzone.zones.evaluate.summaries import Windows
from pilotzone.zones.evaluate.tables import Plan, RuleRef
from pilotzone.zones.model import Rule


class IncidentWriter:
    """The record factory the evaluator's parts share (built per call, never pickled)."""

    def __init__(self, plan: Plan, vehicle_id: str, windows: Windows) -> None:
        self.plan = plan
        self.vehicle_id = vehicle_id
        self.windows = windows

    def incident_id(self, ref: RuleRef, start_ms: int) -> str:
        """The id of this vehicle's incident of a rule starting at ``start_ms``."""
        return incident_id(self.plan.zones[ref.zone_pos].zone_id, ref.rule.id, self.vehicle_id, start_ms)

    def count_opened(self, zone_pos: int, operator: str, cls: int, start_ms: int, rule: Rule) -> None:
        """Count an opened incident in the window summary of its start."""
        self.windows.count_opened(zone_pos, operator, cls, start_ms, rule.kind, str(rule.severity))

    def record(
        self,
        status: str,
        ref: RuleRef,
        *,
        start_ms: int,
        end_ms: int | None,
        peak: float | None,
        place: tuple[float, float],
        area: str | None,
        operator: str,
        vehicle_class: int,
        explanation: str,
        deadline_ms: int | None = None,
        observed_until_ms: int | None = None,
    ) -> IncidentRecord:
        """One lifecycle record of an incident of ``ref``'s rule (``place``: lon, lat)."""
        zone = self.plan.zones[ref.zone_pos]
        return IncidentRecord(
            incident_id=incident_id(zone.zone_id, ref.rule.id, self.vehicle_id, start_ms),
            status=status,
            pilot_zone=zone.zone_id,
            area=area,
            rule_id=ref.rule.id,
            kind=ref.rule.kind,
            severity=str(ref.rule.severity),
            vehicle_id=self.vehicle_id,
            operator_id=operator,
            start_ms=start_ms,
            end_ms=end_ms,
            peak_value=peak,
            latitude=place[1],
            longitude=place[0],
            config_version=zone.version,
            report_deadline_ms=deadline_ms,
            explanation=explanation,
            vehicle_class=VEHICLE_CLASSES[vehicle_class],
            observed_until_ms=observed_until_ms,
        )
