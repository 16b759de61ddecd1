"""``pilotzone zones explain --fences``: the fences covering a point, in force at ``--at`` or not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.zones import SHIPPED_CONFIGS
from pilotzone.zones.fences import load_fences
from tests.pipelines.cli.test_zones import run
from tests.zones.fences.fence_files import INSIDE, OUTSIDE, write_fence

pytestmark = pytest.mark.fences

GWANGJU = str(SHIPPED_CONFIGS / "gwangju.yaml")


def fence_folder(folder: Path) -> dict[str, str]:
    """A fire in force (90 s to leave), a flood to come for buses, a crowd that has ended:
    fence id -> digest."""
    folder.mkdir()
    write_fence(folder, until="2026-04-01T06:00:00+00:00", exit_within_s=90)
    write_fence(folder, "flood.yaml", id="flood-2", effective_from="2026-04-01T03:00:00+00:00",
                vehicle_classes=["BUS"], severity="MAJOR", reason="river flood")  # fmt: skip
    write_fence(folder, "crowd.yaml", id="crowd-0", effective_from="2026-03-31T00:00:00+00:00",
                until="2026-03-31T01:00:00+00:00", reason="festival crowd")  # fmt: skip
    return {fence.fence_id: fence.digest for fence in load_fences([folder])}


def explain(point: tuple[float, float], time: str, vehicle_class: str, *extra: str) -> tuple[int, str]:
    lon, lat = point
    return run("zones", "explain", GWANGJU, "--lon", str(lon), "--lat", str(lat), "--time", time,
               "--vehicle-class", vehicle_class, *extra)  # fmt: skip


def test_explain_lists_the_fences_covering_the_point_with_the_exit_deadline(tmp_path: Path) -> None:
    digest = fence_folder(tmp_path / "fences")
    status, text = explain(
        INSIDE, "2026-04-01T09:01:00+09:00", "ROBOTAXI", "--fences", str(tmp_path / "fences")
    )
    assert status == 0
    lines = text.splitlines()
    assert lines[lines.index("  emergency fences covering the point at 2026-04-01 09:01:00 KST:") :] == [
        "  emergency fences covering the point at 2026-04-01 09:01:00 KST:",
        f"    [CRITICAL] fire-1 ({digest['fire-1']}) in force since 2026-04-01T09:00:00+09:00, "
        "until 2026-04-01T15:00:00+09:00, for ROBOTAXI, SHUTTLE: warehouse fire",
        "      inside when it took effect: out by 2026-04-01T09:01:30+09:00 (30 s left); "
        "entered after: in breach at once",
        f"    [MAJOR] flood-2 ({digest['flood-2']}) not yet in force: from 2026-04-01T12:00:00+09:00, "
        "open-ended, for BUS: river flood",
        "      does not bind ROBOTAXI",
        f"    [CRITICAL] crowd-0 ({digest['crowd-0']}) no longer in force: ended 2026-03-31T10:00:00+09:00, "
        "for ROBOTAXI, SHUTTLE: festival crowd",
    ]
    # --at moves the moment the fences (and versions) are read at; a naive time is the zone's.
    _, text = explain(INSIDE, "2026-04-01T09:01:00+09:00", "SHUTTLE", "--fences", str(tmp_path / "fences"),
                      "--at", "2026-04-01T09:02:10")  # fmt: skip
    assert "      inside when it took effect: out by 2026-04-01T09:01:30+09:00 (overdue by 40 s); " in text
    _, text = explain(OUTSIDE, "2026-04-01T09:01:00+09:00", "ROBOTAXI", "--fences", str(tmp_path / "fences"))
    assert text.splitlines()[-2:] == [
        "  emergency fences covering the point at 2026-04-01 09:01:00 KST:",
        "    none",
    ]


def test_explain_json_fences(tmp_path: Path) -> None:
    digest = fence_folder(tmp_path / "fences")
    status, text = explain(
        INSIDE, "2026-04-01T12:30:00+09:00", "BUS", "--fences", str(tmp_path / "fences"), "--json"
    )
    assert status == 0
    fences = json.loads(text)["fences"]
    assert [(f["id"], f["state"], f["binds_vehicle_class"], f["exit_deadline"]) for f in fences] == [
        ("fire-1", "in_force", False, None),
        (
            "flood-2",
            "in_force",
            True,
            {
                "inside_at_start": "2026-04-01T12:02:00+09:00",
                "seconds_left": -1680.0,
                "entered_later": "immediately",
            },
        ),
        ("crowd-0", "ended", False, None),
    ]
    assert fences[1] == {
        "id": "flood-2",
        "digest": digest["flood-2"],
        "pilot_zone": "gwangju",
        "state": "in_force",
        "severity": "MAJOR",
        "reason": "river flood",
        "vehicle_classes": ["BUS"],
        "binds_vehicle_class": True,
        "effective_from": "2026-04-01T12:00:00+09:00",
        "until": None,
        "exit_within_s": 120.0,
        "exit_deadline": fences[1]["exit_deadline"],
    }
    # Without --fences the report is what it was.
    _, text = explain(INSIDE, "2026-04-01T12:30:00+09:00", "BUS", "--json")
    assert "fences" not in json.loads(text)


def test_explain_refuses_bad_or_missing_fences_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "fences"
    folder.mkdir()
    write_fence(folder, exit_within_s=-1)
    status, text = explain(INSIDE, "2026-04-01T09:01:00+09:00", "ROBOTAXI", "--fences", str(folder))
    assert (status, text) == (2, "")
    assert capsys.readouterr().err.splitlines() == [
        "pilotzone: the fences have problems:",
        f"{folder / 'fire-1.yaml'}:22: exit_within_s: Input should be greater than or equal to 0 (got -1)",
    ]
    status, _ = explain(
        INSIDE, "2026-04-01T09:01:00+09:00", "ROBOTAXI", "--fences", str(tmp_path / "nowhere")
    )
    assert status == 2
    assert capsys.readouterr().err == (
        f"pilotzone zones explain: --fences {tmp_path / 'nowhere'} does not exist: name a fence file or folder\n"
    )
