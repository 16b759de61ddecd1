"""Totals of a run and its manifest: what was asked for and what came out."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pilotzone.pipelines.simulator.options import SimulationOptions
from pilotzone.pipelines.simulator.planning import ZonePlan
from pilotzone.pipelines.simulator.vehicle import VehicleResult
from pilotzone.pipelines.simulator.writer import GROUND_TRUTH_FILE, SLICE_FORMAT, TELEMETRY_DIR
from pilotzone.schemas.contract import TELEMETRY, schema_dict, schema_version
from pilotzone.zones.evaluate import rfc3339_ms
from pilotzone.zones.model import RULE_KINDS


@dataclass
class ZoneTotals:
    """What came out in one zone, summed over its vehicles as their results arrive."""

    vehicles: int = 0
    samples: int = 0
    files: int = 0
    bytes: int = 0
    slices: set[int] = field(default_factory=set)
    classes: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failed_reasons: dict[str, set[str]] = field(default_factory=dict)
    findings: Counter[str] = field(default_factory=Counter)
    incidental: int = 0
    defects: int = 0


@dataclass
class Totals:
    """What came out in every zone; results are added in task order, so the sums are deterministic."""

    zones: list[ZoneTotals]
    samples: int = 0

    def add(self, result: VehicleResult) -> None:
        zone = self.zones[result.zone_pos]
        self.samples += result.samples
        zone.vehicles += 1
        zone.samples += result.samples
        zone.files += result.files
        zone.bytes += result.bytes
        zone.slices |= result.slices
        zone.classes[result.vehicle_class] += 1
        zone.injected.update(result.injected)
        for kind, reason in result.failed.items():
            zone.failed[kind] += 1
            zone.failed_reasons.setdefault(kind, set()).add(reason)
        zone.findings.update(result.by_kind)
        zone.incidental += result.incidental
        zone.defects += result.defects


def build_manifest(options: SimulationOptions, plans: Sequence[ZonePlan], totals: Totals) -> dict[str, Any]:
    """What was asked for and what came out; nothing here depends on the machine or the clock."""
    zones = []
    for plan, zone_totals in zip(plans, totals.zones, strict=True):
        model = plan.model
        injected = {}
        for kind in RULE_KINDS:
            if kind not in plan.requested:
                continue
            injected[kind] = {
                "requested": plan.requested[kind],
                "injected": zone_totals.injected.get(kind, 0),
                "failed": zone_totals.failed.get(kind, 0),
                "failure_reasons": sorted(zone_totals.failed_reasons.get(kind, set())),
            }
        zones.append(
            {
                "zone_id": model.zone.zone_id,
                "version": model.zone.version,
                "start": rfc3339_ms(model.start_ms),
                "end": rfc3339_ms(model.end_ms),
                "local_start": model.start.isoformat(),
                "vehicles": zone_totals.vehicles,
                "vehicle_classes": dict(sorted(zone_totals.classes.items())),
                "samples_written": zone_totals.samples,
                "files": zone_totals.files,
                "bytes": zone_totals.bytes,
                "slices": [
                    dt.datetime.fromtimestamp(s / 1000, dt.UTC).strftime(SLICE_FORMAT)
                    for s in sorted(zone_totals.slices)
                ],
                "injected": injected,
                "not_injectable": dict(sorted(plan.not_injectable.items())),
                "ground_truth": dict(sorted(zone_totals.findings.items())),
                "incidental_findings": zone_totals.incidental,
                "defects": zone_totals.defects,
            }
        )
    schema = schema_dict(TELEMETRY)
    return {
        "generator": "pilotzone simulate",
        "seed": options.seed,
        "options": {
            "vehicles_per_zone": options.vehicles,
            "duration_s": options.duration_s,
            "rate_hz": options.rate_hz,
            "start": options.start.isoformat() if options.start else None,
            "slice_s": options.slice_s,
            "codec": options.codec,
            "inject": dict(sorted(options.inject.items())),
            "defects": options.defects,
        },
        "schema": {"name": f"{schema['namespace']}.{schema['name']}", "version": schema_version(TELEMETRY)},
        "layout": f"{TELEMETRY_DIR}/<zone_id>/<slice start, {SLICE_FORMAT}>/<vehicle_id>.avro",
        "ground_truth_file": GROUND_TRUTH_FILE,
        "samples_written": sum(z.samples for z in totals.zones),
        "files": sum(z.files for z in totals.zones),
        "bytes": sum(z.bytes for z in totals.zones),
        "zones": zones,
    }
