"""``pilotzone zones check`` and ``zones explain --at`` on a config history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.zones import load_zones
from tests.pipelines.cli.test_zones import run
from tests.zones import geometries as g

pytestmark = pytest.mark.fences

# The district of tests.zones.geometries' base config: 40 km/h until April, 30 km/h from then on.
IN_DISTRICT = ("--lon", str(g.lonlat(-2500, 1000)[0]), "--lat", str(g.lonlat(-2500, 1000)[1]))


def write_history(folder: Path, april_until: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    march = g.base_config() | {
        "effective_from": "2026-03-01T00:00:00+09:00",
        "until": "2026-04-01T00:00:00+09:00",
    }
    april = g.base_config() | {"effective_from": april_until or "2026-04-01T00:00:00+09:00"}
    april["rules"][1]["limit_kmh"] = 30
    g.write_yaml(folder / "1-march.yaml", march)
    g.write_yaml(folder / "2-april.yaml", april)
    return folder


def explain(folder: Path, *extra: str) -> tuple[int, str]:
    return run(
        "zones",
        "explain",
        str(folder),
        *IN_DISTRICT,
        "--time",
        "2026-03-31T23:59:59+09:00",
        "--vehicle-class",
        "ROBOTAXI",
        *extra,
    )


def test_check_lists_every_version(tmp_path: Path) -> None:
    status, text = run("zones", "check", str(write_history(tmp_path / "testzone")))
    assert status == 0
    lines = text.splitlines()
    assert lines[-1] == "OK: 2 zones valid"
    assert [line for line in lines if line.startswith("  validity")] == [
        "  validity  in force from 2026-03-01T00:00:00+09:00 until 2026-04-01T00:00:00+09:00",
        "  validity  in force from 2026-04-01T00:00:00+09:00 on",
    ]
    status, text = run("zones", "check", "--json", str(tmp_path / "testzone"))
    assert [(z["effective_from"], z["until"]) for z in json.loads(text)["zones"]] == [
        ("2026-03-01T00:00:00+09:00", "2026-04-01T00:00:00+09:00"),
        ("2026-04-01T00:00:00+09:00", None),
    ]


def test_check_reports_a_gap_with_file_and_field(tmp_path: Path) -> None:
    folder = write_history(tmp_path / "testzone", april_until="2026-04-02T00:00:00+09:00")
    status, text = run("zones", "check", "--json", str(folder))
    assert status == 1
    assert json.loads(text)["problems"] == [
        {
            "file": str(folder / "1-march.yaml"),
            "location": "until",
            "message": f"zone 'testzone': this version ends at 2026-03-31T15:00:00Z but the next "
            f"({folder / '2-april.yaml'}) starts at 2026-04-01T15:00:00Z, leaving a time with no rules; make "
            "until equal the next version's effective_from",
            "line": None,
        }
    ]


def test_explain_picks_the_version_in_force_at_the_time(tmp_path: Path) -> None:
    folder = write_history(tmp_path / "testzone")
    march, april = load_zones([folder])
    status, text = explain(folder, "--json")
    assert status == 0
    report = json.loads(text)
    assert (report["version"], report["effective_from"], report["until"]) == (
        march.version,
        "2026-03-01T00:00:00+09:00",
        "2026-04-01T00:00:00+09:00",
    )
    [speed] = [r for r in report["rules"] if r["kind"] == "speed_limit"]
    assert speed["rule_id"] == "district-speed"
    assert speed["explanation"].startswith("speed_limit district-speed (40 km/h in district district")

    # --at chooses the version; --time stays the moment the schedules are read at.
    status, text = explain(folder, "--at", "2026-04-01T00:00:00+09:00")
    assert status == 0
    lines = text.splitlines()
    assert lines[0].startswith(f"testzone ({april.version}) at ")
    assert lines[1] == "  version in force from 2026-04-01T00:00:00+09:00 on"
    assert any(
        line.startswith("  [MINOR] speed_limit district-speed (30 km/h in district district")
        for line in lines
    )


def test_explain_before_any_version_says_so(tmp_path: Path) -> None:
    folder = write_history(tmp_path / "testzone")
    status, text = explain(folder, "--at", "2026-02-01T00:00")
    assert status == 1
    assert text == (
        "error: no zone config is in force at 2026-02-01T00:00:00+09:00: check --at (or --time) against the "
        "versions' dates\n"
    )


@pytest.mark.parametrize("command", ["run", "stream"])
def test_pipelines_refuse_a_history_with_a_gap_with_rc_2(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pilotzone.pipelines.cli import main

    folder = write_history(tmp_path / "testzone", april_until="2026-04-02T00:00:00+09:00")
    source = (
        ["--input", str(tmp_path / "none.avro"), "--incidents", str(tmp_path / "out" / "incidents.jsonl")]
        if command == "run"
        else [
            "--source",
            "folder",
            "--watch",
            str(tmp_path / "*.avro"),
            "--incidents-dir",
            str(tmp_path / "out"),
        ]
    )
    assert main([command, "--zones", str(folder), *source, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        f"{folder / '1-march.yaml'}: until: zone 'testzone': this version ends at 2026-03-31T15:00:00Z" in err
    )
