"""Replay with emergency fences: a fence drawn over where the small fleet drives.

The fence covers the western half of the every-kind zone from one minute into the fleet's
five minutes, with a minute to leave: vehicles there at the start are reported when still
inside after the deadline, vehicles driving in later at once. The zones' own incidents do
not change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.demo import final_states
from pilotzone.schemas.batch import VEHICLE_CLASSES
from pilotzone.zones.fences.loader import load_fence
from tests.pipelines.fleets import EVERY_KIND_ZONE

pytestmark = [pytest.mark.fences, pytest.mark.slow]

START = "2026-11-23T10:01:00+09:00"
START_MS = int(dt.datetime.fromisoformat(START).timestamp() * 1000)
WEST_HALF = {
    "type": "Polygon",
    "coordinates": [
        [[126.83, 35.14], [126.855, 35.14], [126.855, 35.175], [126.83, 35.175], [126.83, 35.14]]
    ],
}


def write_west_fence(folder: Path, **fields: Any) -> Path:
    """``folder/fire-west.yaml``: a fence over the western half of the test zone for every
    vehicle class, from ``START`` with 60 s to leave (``fields`` add to or replace its own)."""
    document = {
        "id": "fire-west",
        "pilot_zone": "every-kind",
        "polygon": WEST_HALF,
        "vehicle_classes": list(VEHICLE_CLASSES),
        "effective_from": START,
        "exit_within_s": 60,
        "reason": "fire",
        **fields,
    }
    path = folder / "fire-west.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fences")
    write_west_fence(folder, severity="CRITICAL")
    return folder


def replay(fleet: Path, out: Path, *extra: str) -> list[dict[str, Any]]:
    pattern = str(fleet / "telemetry" / "**" / "*.avro")
    assert main(["run", "--zones", str(EVERY_KIND_ZONE), "--input", pattern, "--incidents",
                 str(out / "incidents.jsonl"), "--quiet", *extra]) == 0  # fmt: skip
    return read_jsonl(out / "incidents.jsonl")


def test_a_fence_over_the_fleet_reports_overdue_and_entering_vehicles(
    tmp_path: Path, small_fleet: Path, fences: Path
) -> None:
    plain = replay(small_fleet, tmp_path / "plain")
    fenced = replay(small_fleet, tmp_path / "fenced", "--fences", str(fences))
    replay(small_fleet, tmp_path / "again", "--fences", str(fences))
    assert (tmp_path / "fenced" / "incidents.jsonl").read_bytes() == (
        tmp_path / "again" / "incidents.jsonl"
    ).read_bytes()
    spilled = replay(small_fleet, tmp_path / "spilled", "--fences", str(fences), "--spill-buckets", "3")
    assert final_states(spilled) == final_states(fenced)

    fence_rows = [row for row in fenced if row["kind"] == "emergency_fence"]
    others = [row for row in fenced if row["kind"] != "emergency_fence"]
    assert final_states(others) == final_states(plain)
    digest = load_fence(fences / "fire-west.yaml").digest
    assert {(row["rule_id"], row["area"], row["config_version"], row["severity"]) for row in fence_rows} == {
        ("fence:fire-west", "fire-west", digest, "CRITICAL")
    }
    deadline = dt.datetime.fromtimestamp((START_MS + 60_000) / 1000, dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    overdue = [row for row in fence_rows if row["explanation"].startswith("still inside")]
    entered = [row for row in fence_rows if row["explanation"].startswith("entered")]
    assert {row["start_time"] for row in overdue} == {deadline}
    # Four vehicles were inside when the fence took effect and never left; one drove in later
    # and out again.
    got = sorted(
        (row["vehicle_id"], row["start_time"], row["end_time"], row["peak_value"]) for row in fence_rows
    )
    assert got == [
        ("veh-5482d9b193", deadline, None, 179.0),
        ("veh-712cc75ea3", deadline, None, 179.0),
        ("veh-a2cda20b45", deadline, None, 179.0),
        ("veh-a8d8fdda98", deadline, None, 179.0),
        ("veh-f6b68dd7e9", "2026-11-23T01:02:10.000Z", "2026-11-23T01:04:17.000Z", 126.0),
    ]
    assert (len(overdue), len(entered)) == (4, 1)
