"""The bulk fleet writer: contract bytes, layout, determinism, and injections a replay finds."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any, cast

import fastavro
import numpy as np
import pytest

from pilotzone.pipelines.benchmark import benchmark_zone
from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings, run_replay
from pilotzone.pipelines.simulator.bulk import BulkFleetOptions, read_fleet, vehicle_id, write_bulk_fleet
from pilotzone.pipelines.simulator.bulk.encoding import Columns, encode_records
from pilotzone.schemas.columnar import scan_container
from pilotzone.schemas.contract import TELEMETRY, writer_schema
from pilotzone.zones import load_zones

RATES = {"speed_limit": 0.2, "dwell": 0.2, "restricted_area": 0.2, "vehicle_event": 0.2}
SHORT_RATES = {"speed_limit": 0.3, "vehicle_event": 0.3}
"""What fits in the small fleet's 150 s (dwell needs minutes)."""


@pytest.fixture(scope="module")
def zone_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark zone (Gwangju and pick-up bays with their dwell rule), with 100 bays."""
    return benchmark_zone(tmp_path_factory.mktemp("zone"), 100, 1)


@pytest.fixture(scope="module")
def small(zone_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bulk") / "fleet"
    write_bulk_fleet(
        zone_path,
        BulkFleetOptions(vehicles=9, duration_s=150, seed=5, rates=SHORT_RATES, chunk_vehicles=4),
        out,
    )
    return out


def _records(folder: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob("part-*.avro")):
        with path.open("rb") as stream:
            records.extend(cast(dict[str, Any], record) for record in fastavro.reader(stream))
    return records


def test_encoding_is_avro_byte_for_byte() -> None:
    columns = Columns(
        vehicle=np.array([0, 1, 1]),
        operator=np.array([1, 0, 1]),
        vehicle_class=np.array([0, 5, 7]),
        sequence=np.array([0, -1, 2**62]),
        time_ms=np.array([1_795_000_000_000, 0, -5]),
        latitude=np.array([35.1, -0.0, 90.0]),
        longitude=np.array([126.9, 180.0, -180.0]),
        altitude=np.array([12.5, np.nan, -3.0]),
        heading=np.array([0.0, 359.5, 90.25], dtype=np.float32),
        accuracy=np.array([1.5, 0.0, 1000.0], dtype=np.float32),
        speed_kmh=np.array([0.0, 42.0, 1.0e-3], dtype=np.float32),
        mode=np.array([1, 0, 5]),
        level=np.array([4, -1, 0]),
        event=np.array([-1, 0, 6]),
        initiator=np.array([-1, 1, 3]),
    )
    data, lengths = encode_records(columns, ["v-a", "vehicle-é"], ["op", ""])
    expected = []
    for row in range(3):
        record = {
            "vehicle_id": ["v-a", "vehicle-é"][columns.vehicle[row]],
            "operator_id": ["op", ""][columns.operator[row]],
            "vehicle_class": [
                "CAR",
                "ROBOTAXI",
                "SHUTTLE",
                "BUS",
                "TRUCK",
                "DELIVERY_ROBOT",
                "PARKING_ROBOT",
                "OTHER",
            ][columns.vehicle_class[row]],
            "sequence_number": int(columns.sequence[row]),
            "current_location_timestamp": int(columns.time_ms[row]),
            "current_location_latitude": float(columns.latitude[row]),
            "current_location_longitude": float(columns.longitude[row]),
            "current_location_altitude": None
            if np.isnan(columns.altitude[row])
            else float(columns.altitude[row]),
            "current_location_heading": float(columns.heading[row]),
            "current_location_horizontal_accuracy": float(columns.accuracy[row]),
            "speed": float(columns.speed_kmh[row]),
            "driving_mode": [
                "MANUAL",
                "AUTONOMOUS",
                "REMOTE_OPERATED",
                "MINIMAL_RISK_MANOEUVRE",
                "DISENGAGING",
                "UNKNOWN",
            ][columns.mode[row]],
            "active_autonomy_level": None if columns.level[row] < 0 else int(columns.level[row]),
            "events": []
            if columns.event[row] < 0
            else [
                {
                    "kind": [
                        "DISENGAGEMENT",
                        "REMOTE_TAKEOVER",
                        "MINIMAL_RISK_MANOEUVRE",
                        "COLLISION",
                        "HARSH_BRAKING",
                        "EMERGENCY_STOP",
                        "OTHER",
                    ][columns.event[row]],
                    "initiated_by": ["SYSTEM", "SAFETY_DRIVER", "REMOTE_OPERATOR", "OTHER"][
                        columns.initiator[row]
                    ],
                }
            ],
        }
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, writer_schema(TELEMETRY), record)
        expected.append(buffer.getvalue())
    assert data == b"".join(expected)
    assert lengths.tolist() == [len(one) for one in expected]


def test_records_pass_the_contract(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (part,) = sorted(small.glob("part-*.avro"))
    assert main(["validate", str(part)]) == 0
    assert capsys.readouterr().out.startswith(
        "OK: 1 file(s), 1350 record(s) read, 1350 decoded, 0 undecodable, 0 failing record checks"
    )


def test_layout_is_compactions_one_block_per_vehicle_per_minute(small: Path) -> None:
    records = _records(small)
    fleet = read_fleet(small)
    assert fleet is not None and fleet.records == len(records) == 9 * 150
    order = [
        (
            int(r["current_location_timestamp"].timestamp() * 1000) // 60000,
            r["vehicle_id"],
            r["sequence_number"],
        )
        for r in records
    ]
    assert order == sorted(order)
    assert {r["vehicle_id"] for r in records} == {vehicle_id(i) for i in range(9)}
    (part,) = sorted(small.glob("part-*.avro"))
    scan = scan_container(part.read_bytes())
    assert scan is not None and scan.codec == "deflate"
    blocks = Counter((minute, vehicle) for minute, vehicle, _ in order)
    assert list(scan.block_counts) == [blocks[key] for key in sorted(blocks)]


def test_same_seed_same_bytes_whatever_the_chunking(zone_path: Path, small: Path, tmp_path: Path) -> None:
    again = write_bulk_fleet(
        zone_path,
        BulkFleetOptions(vehicles=9, duration_s=150, seed=5, rates=SHORT_RATES, chunk_vehicles=9),
        tmp_path / "again",
    )
    (first,) = sorted(small.glob("part-*.avro"))
    assert (tmp_path / "again" / again.parts[0]).read_bytes() == first.read_bytes()
    other = write_bulk_fleet(
        zone_path, BulkFleetOptions(vehicles=9, duration_s=150, seed=6, rates=SHORT_RATES), tmp_path / "other"
    )
    assert (tmp_path / "other" / other.parts[0]).read_bytes() != first.read_bytes()


def test_a_written_fleet_is_reused(zone_path: Path, small: Path) -> None:
    (part,) = sorted(small.glob("part-*.avro"))
    written = part.stat().st_mtime_ns
    fleet = write_bulk_fleet(
        zone_path, BulkFleetOptions(vehicles=9, duration_s=150, seed=5, rates=SHORT_RATES), small
    )
    assert part.stat().st_mtime_ns == written
    assert fleet == read_fleet(small)


def test_a_fleet_too_short_for_its_dwell_injections_is_refused(zone_path: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"dwell injections need at least 990 s of driving in zone gwangju: give"
    ):
        write_bulk_fleet(zone_path, BulkFleetOptions(vehicles=1, duration_s=989, seed=1), tmp_path / "short")
    assert not (tmp_path / "short").exists()


@pytest.mark.slow
def test_a_replay_finds_exactly_the_injected_violations(zone_path: Path, tmp_path: Path) -> None:
    fleet = write_bulk_fleet(
        zone_path, BulkFleetOptions(vehicles=40, duration_s=1200, seed=3, rates=RATES), tmp_path / "fleet"
    )
    assert fleet.injected == {"speed_limit": 5, "dwell": 13, "restricted_area": 6, "vehicle_event": 9}
    assert fleet.classes == {
        "BUS": 3,
        "CAR": 6,
        "DELIVERY_ROBOT": 4,
        "ROBOTAXI": 18,
        "SHUTTLE": 5,
        "TRUCK": 4,
    }
    out = tmp_path / "out"
    counters = run_replay(
        load_zones([zone_path]),
        str(tmp_path / "fleet" / "*.avro"),
        ReplayOutputs(incidents_jsonl=out / "incidents.jsonl", dead_letter_jsonl=out / "dead-letters.jsonl"),
        ReplaySettings(progress=False, runner="direct"),
    )
    assert counters["records_read"] == counters["records_decoded"] == 48000
    assert (out / "dead-letters.jsonl").read_text(encoding="utf-8") == ""
    incidents = [
        json.loads(line) for line in (out / "incidents.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert Counter(row["kind"] for row in incidents) == fleet.injected
    assert Counter(row["rule_id"] for row in incidents) == {
        "bay-dwell": 8,
        "dwell": 5,
        "event-disengagement": 7,
        "event-remote-takeover": 2,
        "works-no-entry": 4,
        "airbase-no-entry": 2,
        "city-speed": 4,
        "robot-speed": 1,
    }
