"""Telemetry judged under imported MDS rules gives the incidents a hand-written config gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone, load_zone
from pilotzone.zones.evaluate import IncidentRecord, VehicleEvaluator, assign_zones
from pilotzone.zones.mds.files import import_documents, write_zone
from pilotzone.zones.mds.importer import ImportOptions
from pilotzone.zones.mds.units import DEFAULT_VEHICLE_CLASSES
from pilotzone.zones.model import VehicleClass
from tests.factories import T0_MS, sample
from tests.zones.mds.material import fixture_policies, la_geographies

HERE = Path(__file__).parent
VEHICLE = "veh-venice-1"
AS_ROBOTAXIS = {
    **DEFAULT_VEHICLE_CLASSES,
    "bicycle": (VehicleClass.ROBOTAXI,),
    "scooter": (VehicleClass.ROBOTAXI,),
}
"""The fixtures regulate bicycles and scooters; here they stand for robotaxis, a class the
simulator can drive above 25 mph."""


def venice_policy() -> dict[str, Any]:
    """mds-core's weekend beach ban followed by its two overlapping Venice speed limits."""
    speeds = fixture_policies()["OVERLAPPING_GEOS_SPEED_POLICY"]
    beach = fixture_policies()["COUNT_POLICY_JSON_2"]["rules"][0]
    return {**speeds, "rules": [beach, *speeds["rules"]]}


def imported_zone(folder: Path) -> Zone:
    options = ImportOptions(
        "America/Los_Angeles",
        zone_id="venice",
        vehicle_classes=AS_ROBOTAXIS,
        boundary_geography="1f943d59-ccc9-4d91-b6e2-0c5e771cbc49",  # the City of Los Angeles
    )
    report, zones = import_documents(venice_policy(), [("la", la_geographies())], options, lenient=True)
    assert [r.status for r in report.policies[0].rules] == ["imported", "approximated", "approximated"]
    [(zone_id, config, geojson)] = zones
    _, zone = write_zone(folder, zone_id, config, geojson)
    return zone


def drive(zone: Zone) -> list[IncidentRecord]:
    """A Sunday-afternoon (local) ride: 25 km/h in the slow zone, 50 km/h in the outer
    area, then onto the beach; judged by the evaluator the pipelines run."""
    spots = [(-118.4675, 33.9822, 25.0), (-118.4700, 33.9880, 50.0), (-118.46906, 33.98067, 5.0)]
    records = []
    for leg, (lon, lat, speed) in enumerate(spots):
        for i in range(8):
            second = leg * 8 + i
            records.append(
                sample(
                    vehicle_id=VEHICLE,
                    operator_id="mds-any-provider",
                    vehicle_class="ROBOTAXI",
                    sequence_number=second,
                    current_location_timestamp=T0_MS + 1000 * second,
                    current_location_longitude=lon + i * 1e-5,
                    current_location_latitude=lat,
                    speed=speed,
                )
            )
    evaluator = VehicleEvaluator([zone], VEHICLE)
    outputs = [
        evaluator.process(assign_zones([zone], TelemetryBatch.from_records(records))),
        evaluator.finish(),
    ]
    return [record for out in outputs for record in out.incidents]


def comparable(records: list[IncidentRecord]) -> list[dict[str, Any]]:
    """Everything but the config version, which names the config file's content."""
    lines = [r.to_json() for r in records]
    for line in lines:
        del line["config_version"]
    return sorted(lines, key=lambda line: (line["start_time"], line["rule_id"], line["incident_id"]))


def test_imported_rules_give_the_incidents_of_the_hand_written_config(tmp_path: Path) -> None:
    imported = drive(imported_zone(tmp_path))
    hand_written = drive(
        load_zone(
            HERE / "venice-hand-written.yaml",
            # Its boundary is the shared copy of mds-core's data under tests/data.
            geometry_root=HERE.parents[1],
        )
    )
    # The one difference is why the slow zone wins: MDS order, as priorities, in the
    # imported config; the innermost area in the hand-written one. The explanation says so.
    reasons = [
        line["explanation"]
        for line in comparable(imported)
        if "higher priority (2 over 1)" in line["explanation"]
    ]
    assert len(reasons) == 2
    translated = [
        {**line, "explanation": line["explanation"].replace("higher priority (2 over 1)", "innermost area")}
        for line in comparable(imported)
    ]
    assert translated == comparable(hand_written)
    assert sorted({(r.rule_id, r.kind) for r in imported}) == [
        ("178b570d-e0ba-41d5-a9a9-e8a91440c0e8", "speed_limit"),
        ("2aa6953d-fa8f-4018-9b54-84c8b4b83c6d", "speed_limit"),
        ("405b959e-4377-4a31-8b34-a9a4771125fc", "restricted_area"),
    ]
