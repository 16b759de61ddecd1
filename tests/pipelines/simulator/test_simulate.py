"""The fleet simulator: deterministic output, readable files, and a ground truth that is true.

One small run of the test zone (every rule kind, see ``every-kind-zone.yaml``) is shared by
most tests; each test then checks one promise against the written files themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import avro.datafile
import avro.io
import fastavro
import numpy as np
import pytest
import shapely

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.simulator import (
    DEFECT_KINDS,
    SimulationError,
    SimulationOptions,
    parse_inject,
    simulate,
)
from pilotzone.schemas.contract import schema_version
from pilotzone.zones import Zone, load_zone
from pilotzone.zones.model import RULE_KINDS, DwellRule, SpeedLimitRule
from tests.pipelines.fleets import EVERY_KIND_ZONE

HERE = Path(__file__).parent
ZONE_FILE = EVERY_KIND_ZONE
T0 = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # Monday 10:00 in Seoul, the default start
VEHICLES = 27
DURATION_S = 600
OPTIONS = SimulationOptions(
    vehicles=VEHICLES,
    duration_s=DURATION_S,
    rate_hz=1.0,
    seed=7,
    inject=parse_inject(["all=0.075"]),  # two vehicles per kind
    defects=0.15,  # four vehicles, dealt from the other end: no overlap with the 18 injected
)


@pytest.fixture(scope="module")
def zone() -> Zone:
    return load_zone(ZONE_FILE)


@pytest.fixture(scope="module")
def run(zone: Zone, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    simulate([zone], OPTIONS, out)
    return out


@pytest.fixture(scope="module")
def ground_truth(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "ground_truth.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def samples(run: Path) -> dict[str, list[dict[str, Any]]]:
    """Every vehicle's records in upload order (slice by slice, file order within)."""
    by_vehicle: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted((run / "telemetry").rglob("*.avro")):
        with path.open("rb") as fo:
            by_vehicle[path.stem].extend(fastavro.reader(fo))
    return dict(by_vehicle)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def ms(record: dict[str, Any]) -> int:
    stamp: dt.datetime = record["current_location_timestamp"]
    return int(stamp.timestamp() * 1000)


def parse_time(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def during(records: list[dict[str, Any]], line: dict[str, Any]) -> list[dict[str, Any]]:
    start, end = parse_time(line["start_time"]), parse_time(line["end_time"])
    return [r for r in records if start <= ms(r) <= end]


def lines_of(ground_truth: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (line for line in ground_truth if line["rule_kind"] == kind)


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_writes_identical_bytes(zone: Zone, run: Path, tmp_path: Path) -> None:
    simulate([zone], OPTIONS, tmp_path / "again")
    assert tree(tmp_path / "again") == tree(run)


@pytest.mark.slow
def test_worker_processes_do_not_change_a_byte(zone: Zone, run: Path, tmp_path: Path) -> None:
    simulate([zone], dataclasses.replace(OPTIONS, workers=2), tmp_path / "two")
    assert tree(tmp_path / "two") == tree(run)


@pytest.mark.slow
def test_another_seed_is_another_fleet(zone: Zone, run: Path, tmp_path: Path) -> None:
    simulate([zone], dataclasses.replace(OPTIONS, seed=8), tmp_path / "other")
    ids = {p.stem for p in (run / "telemetry").rglob("*.avro")}
    other_ids = {p.stem for p in (tmp_path / "other" / "telemetry").rglob("*.avro")}
    assert len(ids) == len(other_ids) == VEHICLES
    assert ids.isdisjoint(other_ids)
    assert (tmp_path / "other" / "ground_truth.jsonl").read_bytes() != (
        run / "ground_truth.jsonl"
    ).read_bytes()


# --- files ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_files_read_the_same_with_apache_avro(run: Path) -> None:
    for path in sorted((run / "telemetry").rglob("*.avro")):
        with path.open("rb") as fo:
            expected = list(fastavro.reader(fo))
        with path.open("rb") as fo, avro.datafile.DataFileReader(fo, avro.io.DatumReader()) as reader:
            actual = list(reader)
        assert len(actual) == len(expected), path
        for mine, theirs in zip(expected, actual, strict=True):
            assert mine.keys() == theirs.keys()
            for key, value in mine.items():
                if isinstance(value, float) and math.isnan(value):
                    assert math.isnan(theirs[key]), (path, key)
                else:
                    assert theirs[key] == value, (path, key)


@pytest.mark.slow
def test_one_file_per_vehicle_per_slice_holding_only_that_slice(
    run: Path, ground_truth: list[dict[str, Any]]
) -> None:
    moved = {
        (line["vehicle_id"], line["detail"]["sequence_number"])
        for line in lines_of(ground_truth, "defect")
        if line["rule_id"] == "time_backwards"
    }
    slices = sorted(p.name for p in (run / "telemetry" / "test-every-kind").iterdir())
    assert slices == [f"{T0 + dt.timedelta(minutes=m):%Y%m%dT%H%M%SZ}" for m in range(DURATION_S // 60)]
    for folder in (run / "telemetry" / "test-every-kind").iterdir():
        start = dt.datetime.strptime(folder.name, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        low, high = int(start.timestamp() * 1000), int(start.timestamp() * 1000) + 60_000
        for path in folder.iterdir():
            with path.open("rb") as fo:
                records = list(fastavro.reader(fo))
            assert records, path
            assert {r["vehicle_id"] for r in records} == {path.stem}
            for r in records:
                if (r["vehicle_id"], r["sequence_number"]) not in moved:
                    assert low <= ms(r) < high, path


@pytest.mark.slow
def test_sequence_numbers_and_times_advance_except_where_injected(
    samples: dict[str, list[dict[str, Any]]], ground_truth: list[dict[str, Any]]
) -> None:
    expected: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for line in ground_truth:
        if line["rule_kind"] == "telemetry_gap" and line["detail"]["resumed"]:
            expected[line["vehicle_id"]].add(("seq_jump", line["detail"]["samples_not_sent"] + 1))
        if line["rule_kind"] == "defect" and line["rule_id"] == "duplicate_sequence":
            expected[line["vehicle_id"]].add(("seq_jump", 0))
        if line["rule_kind"] == "defect" and line["rule_id"] == "time_backwards":
            expected[line["vehicle_id"]].add(("time_backwards", 1))
    for vehicle, records in samples.items():
        seq = np.array([r["sequence_number"] for r in records])
        t = np.array([ms(r) for r in records])
        found = {("seq_jump", int(step)) for step in np.diff(seq) if step != 1}
        found |= {("time_backwards", 1) for step in np.diff(t) if step < 0}
        assert found == expected[vehicle], vehicle


# --- ground truth --------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_rule_kind_is_injected_and_in_the_ground_truth(
    run: Path, ground_truth: list[dict[str, Any]]
) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    (zone_entry,) = manifest["zones"]
    for kind in RULE_KINDS:
        assert zone_entry["injected"][kind] == {
            "requested": 2,
            "injected": 2,
            "failed": 0,
            "failure_reasons": [],
        }
    kinds = {line["rule_kind"] for line in ground_truth}
    assert kinds == {*RULE_KINDS, "defect"}
    injected_vehicles = {line["vehicle_id"] for line in ground_truth if line["rule_kind"] != "defect"}
    assert len(injected_vehicles) == 18
    assert zone_entry["incidental_findings"] == 0
    assert zone_entry["defects"] == 4


@pytest.mark.slow
def test_injected_speeding_exceeds_limit_plus_tolerance_beyond_grace(
    zone: Zone, samples: dict[str, list[dict[str, Any]]], ground_truth: list[dict[str, Any]]
) -> None:
    rules = {rule.id: rule for rule in zone.rules}
    speeding = list(lines_of(ground_truth, "speed_limit"))
    assert len(speeding) >= 2
    for line in speeding:
        rule = rules[line["rule_id"]]
        assert isinstance(rule, SpeedLimitRule)
        inside = during(samples[line["vehicle_id"]], line)
        speeds = [r["speed"] for r in inside]
        assert min(speeds) > rule.limit_kmh + rule.tolerance_kmh
        assert line["detail"]["peak_kmh"] == pytest.approx(max(speeds), abs=0.01)
        assert (parse_time(line["end_time"]) - parse_time(line["start_time"])) / 1000 > rule.grace_s
        if line["area"] is not None:
            area = zone.areas[line["area"]].geometry
            assert all(
                shapely.intersects_xy(area, r["current_location_longitude"], r["current_location_latitude"])
                for r in inside
            )


@pytest.mark.slow
def test_injected_restricted_area_samples_are_inside_the_area(
    zone: Zone, samples: dict[str, list[dict[str, Any]]], ground_truth: list[dict[str, Any]]
) -> None:
    entries = list(lines_of(ground_truth, "restricted_area"))
    assert len(entries) >= 2
    for line in entries:
        area = zone.areas[line["area"]].geometry
        records = samples[line["vehicle_id"]]
        inside = [
            shapely.intersects_xy(area, r["current_location_longitude"], r["current_location_latitude"])
            for r in records
        ]
        window = [i for i, r in enumerate(records) if r in during(records, line)]
        assert window and all(inside[i] for i in window)
        assert not inside[window[0] - 1] and not inside[window[-1] + 1]


@pytest.mark.slow
def test_other_injections_are_in_the_samples(
    zone: Zone, samples: dict[str, list[dict[str, Any]]], ground_truth: list[dict[str, Any]]
) -> None:
    rules = {rule.id: rule for rule in zone.rules}
    operators = {op.id: op for op in zone.config.operators}
    for line in ground_truth:
        records = samples[line["vehicle_id"]]
        inside = during(records, line)
        kind = line["rule_kind"]
        if kind == "leave_boundary":
            assert not any(
                shapely.intersects_xy(
                    zone.boundary, r["current_location_longitude"], r["current_location_latitude"]
                )
                for r in inside
            )
        elif kind == "telemetry_gap":
            assert [ms(r) for r in inside] == [parse_time(line["start_time"])] + (
                [parse_time(line["end_time"])] if line["detail"]["resumed"] else []
            )
            assert line["detail"]["gap_s"] > line["detail"]["max_gap_s"]
        elif kind == "driving_mode":
            assert {r["driving_mode"] for r in inside} == set(line["detail"]["modes"])
            assert not set(line["detail"]["modes"]) & set(line["detail"]["allowed_modes"])
        elif kind == "dwell":
            rule = rules[line["rule_id"]]
            assert isinstance(rule, DwellRule)
            assert all(r["speed"] < rule.stopped_below_kmh for r in inside)
            assert line["detail"]["dwell_s"] > rule.max_dwell_s
        elif kind == "operating_hours":
            assert line["vehicle_class"] == "TRUCK" and line["rule_id"] == "hours-trucks"
            assert len(inside) == len(records)
        elif kind == "permit":
            operator = operators.get(line["operator_id"])
            assert operator is None or line["vehicle_class"] not in operator.vehicle_classes
        elif kind == "vehicle_event":
            (sample,) = [r for r in records if ms(r) == parse_time(line["start_time"])]
            event = {"kind": line["detail"]["event"], "initiated_by": line["detail"]["initiated_by"]}
            assert event in sample["events"]


@pytest.mark.slow
def test_defects_are_in_the_samples(
    samples: dict[str, list[dict[str, Any]]], ground_truth: list[dict[str, Any]]
) -> None:
    defects = list(lines_of(ground_truth, "defect"))
    assert len(defects) == 4
    for line in defects:
        assert line["rule_id"] in DEFECT_KINDS
        records = [
            r
            for r in samples[line["vehicle_id"]]
            if r["sequence_number"] == line["detail"]["sequence_number"]
        ]
        if line["rule_id"] == "duplicate_sequence":
            assert len(records) == 2 and records[0] == records[1]
            continue
        (record,) = records
        if line["rule_id"] == "nan":
            assert math.isnan(record["current_location_latitude"])
        elif line["rule_id"] == "out_of_range":
            assert record[line["detail"]["field"]] == pytest.approx(line["detail"]["value"])
        else:
            assert ms(record) == line["detail"]["reported_ms"] < line["detail"]["expected_ms"]


@pytest.mark.slow
def test_baseline_vehicles_keep_every_rule(
    zone: Zone, samples: dict[str, list[dict[str, Any]]], ground_truth: list[dict[str, Any]]
) -> None:
    flagged = {line["vehicle_id"] for line in ground_truth if line["rule_kind"] != "defect"}
    baseline = {v: records for v, records in samples.items() if v not in flagged}
    assert len(baseline) == VEHICLES - 18
    defects = {
        (line["vehicle_id"], line["detail"]["sequence_number"]) for line in lines_of(ground_truth, "defect")
    }
    operators = {op.id: op for op in zone.config.operators}
    no_go = shapely.union_all([zone.areas["airfield"].geometry, zone.areas["school-1"].geometry])
    for vehicle, all_records in baseline.items():
        records = [r for r in all_records if (vehicle, r["sequence_number"]) not in defects]
        lon = np.array([r["current_location_longitude"] for r in records])
        lat = np.array([r["current_location_latitude"] for r in records])
        speed = np.array([r["speed"] for r in records])
        cls = records[0]["vehicle_class"]
        assert shapely.contains_xy(zone.boundary, lon, lat).all(), vehicle
        assert not shapely.intersects_xy(no_go, lon, lat).any(), vehicle
        assert speed.max() <= (15 if cls in {"DELIVERY_ROBOT", "PARKING_ROBOT"} else 50), vehicle
        assert cls != "TRUCK"  # trucks may drive only at night here
        assert cls in operators[records[0]["operator_id"]].vehicle_classes
        sent = np.unique([r["sequence_number"] for r in all_records])
        assert (sent - sent[0] == np.arange(len(sent))).all(), vehicle  # nothing missing
        first = records[0]["sequence_number"]
        assert [ms(r) for r in records] == [
            ms(records[0]) + 1000 * (r["sequence_number"] - first) for r in records
        ]
        stopped = np.concatenate(([0], (speed < 1.0).astype(int), [0]))
        edges = np.flatnonzero(np.diff(stopped))
        assert (edges[1::2] - edges[::2]).max(initial=0) < 120, vehicle
        assert {r["driving_mode"] for r in records} <= {"AUTONOMOUS", "MANUAL"}
        assert all(
            r["events"] == [] or r["events"] == [{"kind": "HARSH_BRAKING", "initiated_by": None}]
            for r in records
        )


@pytest.mark.slow
def test_vehicles_look_like_vehicles(
    samples: dict[str, list[dict[str, Any]]], ground_truth: list[dict[str, Any]]
) -> None:
    defects = {
        (line["vehicle_id"], line["detail"]["sequence_number"]) for line in lines_of(ground_truth, "defect")
    }
    classes = {records[0]["vehicle_class"] for records in samples.values()}
    assert len(classes) >= 4
    for vehicle, records in samples.items():
        clean = [r for r in records if (vehicle, r["sequence_number"]) not in defects]
        accuracy = np.array([r["current_location_horizontal_accuracy"] for r in clean])
        assert accuracy.min() >= 1.0 - 1e-6 and accuracy.max() <= 5.0 + 1e-6
        autonomous = [r for r in clean if r["driving_mode"] == "AUTONOMOUS"]
        assert all(r["active_autonomy_level"] == 4 for r in autonomous)
        assert all(r["active_autonomy_level"] is None for r in clean if r["driving_mode"] != "AUTONOMOUS")
        assert records[0]["vehicle_id"].startswith("veh-") and len(records[0]["vehicle_id"]) == 14


# --- manifest and command line -------------------------------------------------------------------


@pytest.mark.slow
def test_manifest_describes_the_run(zone: Zone, run: Path, samples: dict[str, list[dict[str, Any]]]) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    files = list((run / "telemetry").rglob("*.avro"))
    written = sum(len(records) for records in samples.values())
    lines = (run / "ground_truth.jsonl").read_text().splitlines()
    assert manifest["seed"] == 7
    assert manifest["schema"] == {
        "name": "kr.pilotzone.telemetry.TelemetrySample",
        "version": schema_version("telemetry_sample"),
    }
    assert manifest["options"]["inject"] == dict.fromkeys(sorted(RULE_KINDS), 0.075)
    assert manifest["samples_written"] == written
    assert manifest["files"] == len(files)
    assert manifest["bytes"] == sum(p.stat().st_size for p in files)
    (entry,) = manifest["zones"]
    assert entry["zone_id"] == "test-every-kind"
    assert entry["version"] == zone.version
    assert entry["start"] == "2026-11-23T01:00:00.000Z" and entry["end"] == "2026-11-23T01:10:00.000Z"
    assert entry["vehicles"] == VEHICLES == sum(entry["vehicle_classes"].values())
    assert entry["not_injectable"] == {}
    assert sum(entry["ground_truth"].values()) == len(lines)


def test_cli_writes_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    status = main(
        ["simulate", "--zones", str(ZONE_FILE), "--vehicles", "3", "--duration", "120", "--rate", "2",
         "--seed", "1", "--out", str(out), "--inject", "all=0", "--codec", "null", "--slice", "30"]
    )  # fmt: skip
    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["samples_written"] == 3 * 240
    assert manifest["files"] == 3 * 4
    assert (out / "ground_truth.jsonl").read_text() == ""
    # The progress line before it carries a rate measured on the wall clock.
    assert capsys.readouterr().err.splitlines()[-1] == (
        "test-every-kind: 3 vehicles, 720 samples in 12 files; ground truth: none"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--inject", "speeding=0.1"], "unknown rule kind"),
        (["--inject", "dwell=2"], "between 0 and 1"),
        (["--zone", "atlantis"], "no such zone"),
        (["--start", "yesterday"], "ISO 8601"),
        (["--rate", "0.05"], "telemetry gaps of at most 10 s"),
        (
            ["--start", "2026-11-23T03:00:00+09:00", "--zones", str(HERE / "day-only-zone.yaml")],
            "operating hours",
        ),
        (["--vehicles", "0"], "at least 1 vehicle"),
    ],
)
def test_cli_refuses_unusable_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["simulate", "--zones", str(ZONE_FILE), "--vehicles", "2", "--duration", "60", "--rate", "1"]
    status = main([*args, "--seed", "1", "--out", str(tmp_path / "out"), *extra])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.slow
def test_cli_will_not_write_over_a_run(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--zones", str(ZONE_FILE), "--vehicles", "2", "--duration", "60", "--rate", "1"]
    assert main([*args, "--seed", "1", "--out", str(run)]) == 2
    assert "already holds a simulation" in capsys.readouterr().err


def test_a_kind_that_cannot_be_injected_is_reported(tmp_path: Path) -> None:
    warnings: list[str] = []
    options = SimulationOptions(vehicles=4, duration_s=60, rate_hz=1, seed=3, inject={"operating_hours": 0.5})
    manifest = simulate(
        [load_zone(HERE / "day-only-zone.yaml")], options, tmp_path / "out", warn=warnings.append
    )
    (entry,) = manifest["zones"]
    assert entry["injected"]["operating_hours"] == {
        "requested": 2,
        "injected": 0,
        "failed": 0,
        "failure_reasons": [],
    }
    assert entry["not_injectable"]["operating_hours"].startswith("every class is permitted")
    assert warnings == [
        f"day-only: operating_hours not injectable: {entry['not_injectable']['operating_hours']}"
    ]
    assert (tmp_path / "out" / "ground_truth.jsonl").read_text() == ""


def test_options_are_checked_before_anything_is_written(zone: Zone, tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="--codec brotli"):
        simulate(
            [zone], SimulationOptions(vehicles=1, duration_s=60, rate_hz=1, seed=1, codec="brotli"), tmp_path
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_a_bad_zone_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(ZONE_FILE.read_text().replace("limit_kmh: 50", "limit_kmh: fast"))
    args = ["simulate", "--zones", str(broken), "--vehicles", "2", "--duration", "60", "--rate", "1"]
    assert main([*args, "--seed", "1", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "pilotzone simulate: zone configs have problems:",
        f"{broken}:33: rules[0] (speed-zone).limit_kmh: Input should be a valid number, "
        "unable to parse string as a number (got 'fast')",
    ]
    assert not (tmp_path / "out").exists()


def test_cli_exit_status_1_when_the_output_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    args = ["simulate", "--zones", str(ZONE_FILE), "--vehicles", "2", "--duration", "60", "--rate", "1"]
    assert main([*args, "--seed", "1", "--out", str(tmp_path / "a-file" / "out")]) == 1
    assert "cannot write" in capsys.readouterr().err
