"""A replay of a simulated fleet under imported MDS rules finds what a hand-written config finds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from pilotzone.pipelines.jobs.replay import ReplaySettings, run_replay
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.simulator import SimulationOptions, simulate
from pilotzone.zones import load_zone
from tests.pipelines.streams import outputs_in
from tests.zones.mds.test_replay import HERE as MDS_TESTS
from tests.zones.mds.test_replay import imported_zone

pytestmark = pytest.mark.slow


def incidents(folder: Path) -> list[dict[str, Any]]:
    """The incident log without the config version (it names the config's content); the
    slow zone's win is explained by MDS order (as priorities) in the imported config and by
    the innermost area in the hand-written one, the only wording that differs."""
    lines = read_jsonl(folder / "incidents.jsonl")
    for line in lines:
        del line["config_version"]
        line["explanation"] = line["explanation"].replace("higher priority (2 over 1)", "innermost area")
    return sorted(lines, key=lambda line: (line["vehicle_id"], line["start_time"], line["rule_id"]))


@pytest.mark.parametrize(
    ("start", "kind"),
    [
        # A Saturday: the beach ban is in force (robotaxis have no room left to drive, robots do).
        (dt.datetime(2026, 11, 28, 11, 0), "restricted_area"),
        # A Tuesday: robotaxis speed through the slow zone and the outer area.
        (dt.datetime(2026, 12, 1, 11, 0), "speed_limit"),
    ],
)
def test_replay_under_imported_rules_equals_the_hand_written_config(
    start: dt.datetime, kind: str, tmp_path: Path
) -> None:
    hand_written = load_zone(
        MDS_TESTS / "venice-hand-written.yaml",
        # Its boundary is the shared copy of mds-core's data under tests/data.
        geometry_root=MDS_TESTS.parents[1],
    )
    imported = imported_zone(tmp_path / "imported")
    options = SimulationOptions(
        vehicles=8, duration_s=300, rate_hz=1.0, seed=5, start=start, inject={kind: 0.5}
    )
    simulate([hand_written], options, tmp_path / "sim")
    pattern = str(tmp_path / "sim" / "telemetry" / "**" / "*.avro")
    settings = ReplaySettings(progress=False)
    run_replay([imported], pattern, outputs_in(tmp_path / "under-imported"), settings)
    run_replay([hand_written], pattern, outputs_in(tmp_path / "under-hand-written"), settings)
    found = incidents(tmp_path / "under-imported")
    assert found == incidents(tmp_path / "under-hand-written")
    truth = read_jsonl(tmp_path / "sim" / "ground_truth.jsonl")
    assert {row["rule_kind"] for row in truth} == {kind}
    assert {(line["vehicle_id"], line["kind"]) for line in found} == {
        (row["vehicle_id"], kind) for row in truth
    }
