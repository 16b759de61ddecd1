"""``pilotzone run`` and ``pilotzone demo`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.zones import load_zone
from tests.factories import track, write_container
from tests.pipelines.fleets import EVERY_KIND_ZONE


@pytest.mark.slow
def test_run_writes_the_incident_log_avro_and_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    # A robotaxi at 80 km/h inside the every-kind zone (limit 50 + 5 tolerance, grace 5 s).
    fast = track(12, vehicle_id="veh-fast", step_m=22.0, speed=80.0, operator_id="op-taxi")
    fast = [
        dict(r, current_location_latitude=35.145, current_location_longitude=126.845 + i * 0.00024)
        for i, r in enumerate(fast)
    ]
    write_container(tmp_path / "in" / "fast.avro", fast)
    (tmp_path / "in" / "broken.avro").write_bytes(b"not avro at all")
    status = main(
        [
            "run",
            "--zones",
            str(EVERY_KIND_ZONE),
            "--input",
            str(tmp_path / "in" / "*.avro"),
            "--incidents",
            str(tmp_path / "out" / "incidents.jsonl"),
            "--incidents-avro",
            str(tmp_path / "out" / "incidents.avro"),
            "--dead-letter",
            str(tmp_path / "out" / "dead.jsonl"),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    incidents = read_jsonl(tmp_path / "out" / "incidents.jsonl")
    assert [(i["rule_id"], i["vehicle_id"], i["start_time"], i["peak_value"]) for i in incidents] == [
        ("speed-zone", "veh-fast", "2026-11-23T01:00:00.000Z", 30.0)
    ]
    assert incidents[0]["end_time"] is None
    with (tmp_path / "out" / "incidents.avro").open("rb") as stream:
        lifecycle = [(r["status"], r["rule_id"], r["end_time"]) for r in fastavro.reader(stream)]
    # Still open at the end: OPENED once the grace passed, then its figures up to the last fix.
    assert lifecycle == [("OPENED", "speed-zone", None), ("UPDATED", "speed-zone", None)]
    assert incidents[0]["explanation"].startswith("80 km/h (30 km/h over the limit) for 11 s where")
    assert [d["reason"] for d in read_jsonl(tmp_path / "out" / "dead.jsonl")] == ["not_avro"]
    version = load_zone(EVERY_KIND_ZONE).version
    assert out.splitlines() == [
        "records read 13, decoded 12, dead-lettered 1",
        f"zone test-every-kind (config {version})",
        "  12 samples, 0.2 km driven (0.2 km autonomous), compliance ratio 0.0000",
        "  disengagements 0 (0.0 per 1,000 autonomous km), remote takeovers 0",
        "  per operator and vehicle class:",
        "    op-taxi ROBOTAXI: 12 samples, 0.2 km driven (0.2 km autonomous), compliance ratio 0.0000, "
        "incidents 1, disengagements 0, remote takeovers 0",
        "  incidents 1 (1 open at end): MINOR 1",
        "    speed_limit 1",
        "dead letters: not_avro 1",
        f"incident log: {tmp_path / 'out' / 'incidents.jsonl'}",
        f"run manifest: {tmp_path / 'out' / 'run-manifest.json'}",
    ]


def test_run_reports_bad_zone_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("zone_id: x\n", encoding="utf-8")
    status = main(
        [
            "run",
            "--zones",
            str(tmp_path / "bad.yaml"),
            "--input",
            "x",
            "--incidents",
            str(tmp_path / "i.jsonl"),
        ]
    )
    assert status == 2
    bad = tmp_path / "bad.yaml"
    assert capsys.readouterr().err.splitlines() == [
        "pilotzone: the zone configs have problems:",
        *(f"{bad}:1: {field}: required field '{field}' is missing: add it"
          for field in ("name", "boundary", "operators", "rules")),
    ]  # fmt: skip


@pytest.mark.slow
def test_demo_twice_reuses_its_simulation_and_gives_the_same_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["demo", "--out", str(tmp_path / "demo"), "--vehicles", "8", "--duration", "240", "--quiet"]
    assert main(args) == 0
    first = (tmp_path / "demo" / "incidents.jsonl").read_bytes()
    assert main(args) == 0
    assert (tmp_path / "demo" / "incidents.jsonl").read_bytes() == first
    manifest = json.loads(next((tmp_path / "demo").glob("simulation-*/manifest.json")).read_text())
    assert manifest["zones"][0]["zone_id"] == "gwangju"
    assert "compliance ratio" in capsys.readouterr().out


@pytest.mark.slow
def test_json_logs_are_one_object_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    write_container(tmp_path / "in" / "a.avro", track(5, vehicle_id="veh-log", operator_id="op-taxi"))
    status = main(
        ["run", "--zones", str(EVERY_KIND_ZONE), "--input", str(tmp_path / "in" / "*.avro"),
         "--incidents", str(tmp_path / "out" / "incidents.jsonl"), "--log-format", "json"]
    )  # fmt: skip
    assert status == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert [list(entry) for entry in entries] == [["time", "level", "logger", "message"]] * 2
    version = load_zone(EVERY_KIND_ZONE).version
    assert [(entry["level"], entry["logger"], entry["message"]) for entry in entries] == [
        (
            "INFO",
            "pilotzone.run",
            f"replay of {tmp_path / 'in' / '*.avro'} on direct, zones test-every-kind {version}",
        ),
        ("INFO", "pilotzone.run", "replay done: 5 records read, 5 decoded, 0 dead-lettered"),
    ]
