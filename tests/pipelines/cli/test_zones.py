"""``pilotzone zones check`` and ``zones explain``: exit codes, text and JSON reports."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import zones as cli_zones
from pilotzone.zones import SHIPPED_CONFIGS, load_zone
from tests.zones import geometries as g


def run(*argv: str) -> tuple[int, str]:
    """Parse like the top-level ``pilotzone`` command would, and run the handler."""
    parser = argparse.ArgumentParser(prog="pilotzone")
    cli_zones.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    status = args.func(args, out)
    return status, out.getvalue()


def broken_config(tmp_path: Path) -> Path:
    config = g.base_config()
    config["rules"][1]["limit_kmh"] = 500
    config["rules"][2]["applies"]["areas"] = ["shcool"]
    return g.write_yaml(tmp_path / "broken.yaml", config)


def line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def test_check_shipped_configs_text(capsys: pytest.CaptureFixture[str]) -> None:
    status, text = run("zones", "check", str(SHIPPED_CONFIGS))
    assert status == 0
    lines = text.splitlines()
    assert lines[-1] == "OK: 3 zones valid"
    assert [line.split(":")[0] for line in lines if not line.startswith(" ")] == [
        "gwangju",
        "sejong",
        "seoul-gangnam",
        "OK",
    ]
    assert (
        "  areas     16: 1 construction, 1 corridor, 1 depot, 5 district, 1 pickup_dropoff, 1 restricted_area, "
        "5 school_zone, 1 sidewalk" in lines
    )
    assert (
        "    speed_limit      school-speed: 30 km/h in sejong-school-hansol, sejong-school-dodam, "
        "sejong-school-areum, sejong-school-saerom, sejong-school-jochiwon for CAR, ROBOTAXI, SHUTTLE, BUS, TRUCK, "
        "OTHER priority 10 [MAJOR]" in lines
    )
    assert capsys.readouterr().out == ""  # everything went to the given stream


def test_check_json_report(tmp_path: Path) -> None:
    status, text = run("zones", "check", "--json", str(SHIPPED_CONFIGS / "gwangju.yaml"))
    report = json.loads(text)
    assert status == 0
    assert (report["ok"], report["problems"]) == (True, [])
    (zone,) = report["zones"]
    assert zone["zone_id"] == "gwangju"
    assert sorted(zone) == [
        "areas",
        "areas_by_kind",
        "authority",
        "boundary_km2",
        "max_vehicles",
        "name",
        "operators",
        "repaired",
        "rules",
        "rules_by_kind",
        "source",
        "timezone",
        "version",
        "warnings",
        "zone_id",
    ]
    assert zone["rules_by_kind"] == {
        "speed_limit": 6,
        "leave_boundary": 1,
        "restricted_area": 2,
        "operating_hours": 2,
        "telemetry_gap": 1,
        "driving_mode": 2,
        "dwell": 4,
        "permit": 1,
        "vehicle_event": 5,
    }
    assert zone["operators"][0] == {
        "id": "gwangju-robotaxi-a",
        "name": "Robotaxi operator A (fictional)",
        "vehicle_classes": ["ROBOTAXI"],
        "max_vehicles": 80,
    }
    school_speed = next(rule for rule in zone["rules"] if rule["id"] == "school-speed")
    assert school_speed["summary"] == "30 km/h"
    assert zone["boundary_km2"] == pytest.approx(501, rel=0.02)


def test_check_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    broken = broken_config(tmp_path)
    status, text = run("zones", "check", str(broken), str(tmp_path / "missing.yaml"))
    assert status == 1
    limit_line, area_line = line_of(broken, "  limit_kmh: 500"), line_of(broken, "    - shcool")
    assert text.splitlines() == [
        f"{broken}:{limit_line}: rules[1] (district-speed).limit_kmh: Input should be less than or equal to 200 (got 500)",
        f"{broken}:{area_line}: rules[2] (school-speed).applies.areas[0]: unknown area 'shcool': did you mean 'school'? "
        "known areas: corridor, depot, district, restricted, school (define it under areas: or fix the id)",
        f"{tmp_path / 'missing.yaml'}: no such file or folder",
        "3 problems in 2 files",
    ]


def test_check_json_problems(tmp_path: Path) -> None:
    broken = broken_config(tmp_path)
    status, text = run("zones", "check", "--json", str(broken))
    assert status == 1
    report = json.loads(text)
    assert (report["ok"], report["zones"]) == (False, [])
    assert report["problems"][0] == {
        "file": str(broken),
        "location": "rules[1] (district-speed).limit_kmh",
        "message": "Input should be less than or equal to 200 (got 500)",
        "line": line_of(broken, "  limit_kmh: 500"),
    }
    assert len(report["problems"]) == 2


def test_explain_json_at_a_school_zone() -> None:
    status, text = run(
        "zones",
        "explain",
        str(SHIPPED_CONFIGS),
        "--lon",
        "126.9265",
        "--lat",
        "35.1440",
        "--time",
        "2025-03-03T23:15:00+00:00",
        "--vehicle-class",
        "robotaxi",
        "--json",
    )
    assert status == 0
    report = json.loads(text)
    assert (report["zone_id"], report["local_time"], report["vehicle_class"]) == (
        "gwangju",
        "2025-03-04T08:15:00+09:00",
        "ROBOTAXI",
    )
    assert [(r["kind"], r["rule_id"], r["area"]) for r in report["rules"]][:5] == [
        ("speed_limit", "school-speed", "gwangju-school-1"),
        ("operating_hours", "hours-road", None),
        ("telemetry_gap", "telemetry-gap", None),
        ("driving_mode", "school-driving-mode", "gwangju-school-1"),
        ("dwell", "school-dwell", "gwangju-school-1"),
    ]
    assert report["rules"][0]["overridden"] == ["dong-gu-speed", "city-speed"]


def test_explain_text_with_local_time() -> None:
    status, text = run(
        "zones",
        "explain",
        str(SHIPPED_CONFIGS / "sejong.yaml"),
        "--lon",
        "130.0",
        "--lat",
        "36.5",
        "--time",
        "2025-03-04T08:15",
        "--vehicle-class",
        "BUS",
    )
    assert status == 0
    lines = text.splitlines()
    version = load_zone(SHIPPED_CONFIGS / "sejong.yaml").version
    assert (
        lines[0] == f"sejong ({version}) at lon 130.000000, lat 36.500000, Tue 2025-03-04 08:15:00 KST, BUS:"
    )
    assert (
        "  [MAJOR] leave_boundary leave-boundary (stay inside the boundary, grace 10 s zone-wide) applies: "
        "the point is outside the zone boundary" in lines
    )


def test_explain_needs_a_zone_choice_when_several_could_apply() -> None:
    status, text = run(
        "zones",
        "explain",
        str(SHIPPED_CONFIGS),
        "--lon",
        "130.0",
        "--lat",
        "36.5",
        "--time",
        "2025-03-04T08:15:00+09:00",
        "--vehicle-class",
        "BUS",
    )
    assert (status, text) == (
        1,
        "error: the point is in 0 of the zones: pick one with --zone (gwangju, sejong, seoul-gangnam)\n",
    )
    status, _ = run(
        "zones",
        "explain",
        str(SHIPPED_CONFIGS),
        "--zone",
        "sejong",
        "--lon",
        "130.0",
        "--lat",
        "36.5",
        "--time",
        "2025-03-04T08:15:00+09:00",
        "--vehicle-class",
        "BUS",
    )
    assert status == 0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--time", "tomorrow", "not an ISO 8601 date-time: 'tomorrow'"),
        ("--vehicle-class", "TANK", "unknown vehicle class 'TANK'"),
    ],
)
def test_explain_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    argv = {"--time": "2025-03-04T08:15:00+09:00", "--vehicle-class": "CAR", option: value}
    with pytest.raises(SystemExit) as caught:
        run(
            "zones",
            "explain",
            str(SHIPPED_CONFIGS),
            "--lon",
            "127",
            "--lat",
            "37",
            *[x for kv in argv.items() for x in kv],
        )
    assert caught.value.code == 2
    assert message in capsys.readouterr().err
