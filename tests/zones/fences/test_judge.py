"""The stream's fence judge: the replay's records when fences come first, later fences only
forward, late fixes counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pilotzone.zones.fences.judge import FenceJudge, Fixes
from pilotzone.zones.fences.loader import load_fence
from pilotzone.zones.fences.tracker import VehicleFences
from tests.zones.fences.fence_files import INSIDE, OUTSIDE, START_MS, write_fence

pytestmark = pytest.mark.fences


def fixes(vehicle: str, seconds: list[float], places: list[tuple[float, float]]) -> Fixes:
    n = len(seconds)
    return Fixes(
        vehicle,
        "ROBOTAXI",
        "op-1",
        np.arange(n, dtype=np.int64),
        np.array([START_MS + round(s * 1000) for s in seconds], dtype=np.int64),
        np.array([p[0] for p in places]),
        np.array([p[1] for p in places]),
    )


def test_fences_known_first_give_the_trackers_records(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))
    a = fixes("a", [-5, 60, 130, 200], [INSIDE, INSIDE, INSIDE, OUTSIDE])
    b = fixes("b", [-5, 300, 310], [OUTSIDE, INSIDE, OUTSIDE])
    judge = FenceJudge([fence])
    got = []
    for part in (a.take(np.arange(2)), b, a.take(np.arange(2, 4))):
        records, late = judge.judge(part)
        assert late == 0
        got += records
    got += judge.finish()
    expected = []
    for vehicle in (a, b):
        tracker = VehicleFences([fence], vehicle.vehicle_id, "ROBOTAXI", "op-1")
        expected += tracker.process(vehicle.time_ms, vehicle.lon, vehicle.lat) + tracker.finish()
    assert sorted(got, key=lambda r: (r.vehicle_id, r.start_ms, r.status)) == sorted(
        expected, key=lambda r: (r.vehicle_id, r.start_ms, r.status)
    )
    assert len(got) == 4


def test_a_fence_received_later_binds_only_later_fixes(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))
    judge = FenceJudge()
    assert judge.judge(fixes("a", [-5, 60, 130], [INSIDE] * 3)) == ([], 0)
    judge.add_fence(fence)
    judge.add_fence(fence)  # the watch emits it again: one fence
    records, late = judge.judge(fixes("a", [200, 210], [INSIDE, OUTSIDE]))
    # The vehicle's first fix the fence sees is inside: it gets the grace, and is overdue.
    assert [(r.status, r.start_ms - START_MS, r.end_ms) for r in records] == [
        ("OPENED", 120_000, None),
        ("CLOSED", 120_000, START_MS + 210_000),
    ]
    assert late == 0
    assert len(judge.fences) == 1


def test_fixes_older_than_those_judged_are_counted_late_and_not_judged(tmp_path: Path) -> None:
    judge = FenceJudge([load_fence(write_fence(tmp_path))])
    assert judge.judge(fixes("a", [-5, 100], [OUTSIDE, OUTSIDE])) == ([], 0)
    records, late = judge.judge(fixes("a", [50, 100, 150], [INSIDE, OUTSIDE, INSIDE]))
    assert late == 1
    assert [(r.status, r.start_ms - START_MS) for r in records] == [("OPENED", 150_000)]
