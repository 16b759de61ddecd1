"""Which fences cover a point at a moment (``zones.fences.explain``), by the judge's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotzone.zones.fences import load_fences
from pilotzone.zones.fences.explain import FenceState, fences_at_point
from tests.zones.fences.fence_files import INSIDE, OUTSIDE, SQUARE, START_MS, write_fence

pytestmark = pytest.mark.fences

MINUTE = 60_000


def test_fences_covering_the_point_by_state_then_start(tmp_path: Path) -> None:
    write_fence(tmp_path, until="2026-04-01T06:00:00+00:00", exit_within_s=90)
    write_fence(
        tmp_path, "2.yaml", id="flood-2", effective_from="2026-04-01T03:00:00+00:00", vehicle_classes=["BUS"]
    )
    write_fence(tmp_path, "3.yaml", id="crowd-0", effective_from="2026-03-31T00:00:00+00:00",
                until="2026-03-31T01:00:00+00:00")  # fmt: skip
    write_fence(tmp_path, "4.yaml", id="far-3", polygon={
        "type": "Polygon", "coordinates": [[[127.0, 35.0], [127.01, 35.0], [127.01, 35.01], [127.0, 35.0]]]
    })  # fmt: skip
    fences = load_fences([tmp_path])
    found = fences_at_point(fences, *INSIDE, START_MS + MINUTE, "ROBOTAXI")
    assert [(f.fence.fence_id, f.state, f.binds) for f in found] == [
        ("fire-1", FenceState.IN_FORCE, True),
        ("flood-2", FenceState.PENDING, False),
        ("crowd-0", FenceState.ENDED, True),
    ]
    fire = found[0]
    assert (fire.deadline_inside_at_start_ms, fire.seconds_left) == (START_MS + 90_000, 30.0)
    late = fences_at_point(fences, *INSIDE, START_MS + 2 * MINUTE, "ROBOTAXI")[0]
    assert late.seconds_left == -30.0
    assert fences_at_point(fences, *OUTSIDE, START_MS + MINUTE, "ROBOTAXI") == []


def test_until_is_exclusive_and_the_edge_counts_as_inside(tmp_path: Path) -> None:
    fences = load_fences([write_fence(tmp_path, until="2026-04-01T00:10:00+00:00")])
    corner = SQUARE["coordinates"][0][0]
    assert [f.state for f in fences_at_point(fences, *corner, START_MS, "SHUTTLE")] == [FenceState.IN_FORCE]
    assert [f.state for f in fences_at_point(fences, *corner, START_MS - 1, "SHUTTLE")] == [
        FenceState.PENDING
    ]
    end = START_MS + 10 * MINUTE
    assert [f.state for f in fences_at_point(fences, *INSIDE, end - 1, "SHUTTLE")] == [FenceState.IN_FORCE]
    assert [f.state for f in fences_at_point(fences, *INSIDE, end, "SHUTTLE")] == [FenceState.ENDED]
