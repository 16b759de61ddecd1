"""The ground truth: the zone's rules applied to what a vehicle reported.

This is the oracle the monitor is tested against, so it is written apart from the monitor's
evaluator (``pilotzone.zones.evaluate``) and shares none of its code: only the rule configs
and the precedence of ``zones.rules``. Like the monitor, it has one module per rule kind,
found through ``ORACLES``; adding a kind is adding a module and a line here.
"""

from __future__ import annotations

from collections.abc import Callable

from pilotzone.pipelines.simulator.oracle import (
    driving_mode,
    dwell,
    leave_boundary,
    operating_hours,
    permit,
    restricted_area,
    speed_limit,
    telemetry_gap,
    vehicle_event,
)
from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.track import Finding, Track
from pilotzone.pipelines.simulator.zone_model import ZoneModel

ORACLES: dict[str, Callable[[SentSamples], Verdict]] = {
    "speed_limit": speed_limit.find,
    "driving_mode": driving_mode.find,
    "operating_hours": operating_hours.find,
    "dwell": dwell.find,
    "restricted_area": restricted_area.find,
    "leave_boundary": leave_boundary.find,
    "permit": permit.find,
    "telemetry_gap": telemetry_gap.find,
    "vehicle_event": vehicle_event.find,
}
"""Each rule kind's oracle. The order is the order findings are listed before sorting, which
breaks ties between findings of equal time, kind and rule in the ground truth file."""


def evaluate(model: ZoneModel, track: Track) -> tuple[list[Finding], bool]:
    """Every violation in the sent samples, and whether any is too close to call (the track is
    then generated again)."""
    samples = SentSamples.of(model, track)
    findings: list[Finding] = []
    ambiguous = False
    for find in ORACLES.values():
        verdict = find(samples)
        findings.extend(verdict.findings)
        ambiguous |= verdict.ambiguous
    return findings, ambiguous
