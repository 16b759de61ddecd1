"""Judging fixes against emergency fences: exact incidents, chunking and watermarks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pilotzone.zones.evaluate.records import IncidentRecord
from pilotzone.zones.fences import Fence, VehicleFences
from pilotzone.zones.fences.loader import load_fence
from pilotzone.zones.history import END_MS
from tests.zones.fences.fence_files import INSIDE, OUTSIDE, START_MS, write_fence

pytestmark = pytest.mark.fences

Fix = tuple[float, tuple[float, float]]
"""Seconds after the fence takes effect, and (lon, lat)."""


def fence(tmp_path: Path, **changes: Any) -> Fence:
    return load_fence(write_fence(tmp_path, **changes))


def judge(
    fences: list[Fence], fixes: Sequence[Fix], cls: str = "ROBOTAXI", cuts: tuple[int, ...] = ()
) -> list[IncidentRecord]:
    t = np.array([START_MS + round(s * 1000) for s, _ in fixes], dtype=np.int64)
    lon = np.array([p[0] for _, p in fixes], dtype=np.float64)
    lat = np.array([p[1] for _, p in fixes], dtype=np.float64)
    vehicle = VehicleFences(fences, "veh-1", cls, "op-1")
    records: list[IncidentRecord] = []
    bounds = [0, *cuts, len(fixes)]
    for a, b in itertools.pairwise(bounds):
        records.extend(vehicle.process(t[a:b], lon[a:b], lat[a:b]))
    return records + vehicle.finish()


def brief(records: list[IncidentRecord]) -> list[tuple[str, float, float | None, float | None]]:
    """(status, start, end, peak) with times in seconds after the fence takes effect."""
    return [
        (
            r.status,
            (r.start_ms - START_MS) / 1000,
            None if r.end_ms is None else (r.end_ms - START_MS) / 1000,
            r.peak_value,
        )
        for r in records
    ]


def test_a_vehicle_inside_at_the_start_that_stays_past_the_deadline(tmp_path: Path) -> None:
    the_fence = fence(tmp_path)
    fixes = [(-1, INSIDE), (60, INSIDE), (121, INSIDE), (150, INSIDE), (160, OUTSIDE), (170, OUTSIDE)]
    records = judge([the_fence], fixes)
    assert brief(records) == [("OPENED", 120.0, None, 1.0), ("CLOSED", 120.0, 160.0, 30.0)]
    opened = records[0]
    assert (opened.kind, opened.rule_id, opened.area, opened.pilot_zone) == (
        "emergency_fence",
        "fence:fire-1",
        "fire-1",
        "gwangju",
    )
    assert (opened.severity, opened.config_version, opened.vehicle_class) == (
        "CRITICAL",
        the_fence.digest,
        "ROBOTAXI",
    )
    assert (opened.longitude, opened.latitude) == INSIDE
    assert opened.explanation == (
        "still inside emergency fence fire-1 1 s after its exit deadline (120 s from "
        "2026-04-01T00:00:00.000Z): warehouse fire"
    )
    assert records[0].incident_id == records[1].incident_id


def test_a_vehicle_that_leaves_in_time_has_no_incident(tmp_path: Path) -> None:
    assert judge([fence(tmp_path)], [(-5, INSIDE), (30, INSIDE), (100, OUTSIDE), (500, OUTSIDE)]) == []


def test_exactly_at_the_deadline_is_still_in_time(tmp_path: Path) -> None:
    assert judge([fence(tmp_path)], [(-5, INSIDE), (120, INSIDE), (121, OUTSIDE)]) == []


def test_a_vehicle_first_seen_inside_after_the_start_gets_the_grace(tmp_path: Path) -> None:
    assert brief(judge([fence(tmp_path)], [(10, INSIDE), (130, INSIDE), (131, OUTSIDE)])) == [
        ("OPENED", 120.0, None, 10.0),
        ("CLOSED", 120.0, 131.0, 10.0),
    ]


def test_entering_after_the_start_is_an_incident_at_once(tmp_path: Path) -> None:
    records = judge([fence(tmp_path)], [(-5, OUTSIDE), (200, INSIDE), (210, INSIDE), (230, OUTSIDE)])
    assert brief(records) == [("OPENED", 200.0, None, 0.0), ("CLOSED", 200.0, 230.0, 10.0)]
    assert records[0].explanation == (
        "entered emergency fence fire-1 after it took effect at 2026-04-01T00:00:00.000Z: warehouse fire"
    )


def test_leaving_in_time_and_coming_back_is_an_entry(tmp_path: Path) -> None:
    fixes = [(-5, INSIDE), (50, OUTSIDE), (60, INSIDE), (70, OUTSIDE)]
    assert brief(judge([fence(tmp_path)], fixes)) == [
        ("OPENED", 60.0, None, 0.0),
        ("CLOSED", 60.0, 70.0, 0.0),
    ]


def test_a_class_the_fence_does_not_name_is_not_judged(tmp_path: Path) -> None:
    assert judge([fence(tmp_path)], [(-5, INSIDE), (500, INSIDE)], cls="CAR") == []


def test_fixes_before_the_fence_are_no_incident(tmp_path: Path) -> None:
    assert judge([fence(tmp_path)], [(-500, INSIDE), (-300, INSIDE)]) == []


def test_an_open_incident_closes_when_the_fence_ends(tmp_path: Path) -> None:
    ending = fence(tmp_path, until="2026-04-01T00:05:00+00:00")
    fixes = [(-5, INSIDE), (200, INSIDE), (290, INSIDE), (400, INSIDE)]
    assert brief(judge([ending], fixes)) == [("OPENED", 120.0, None, 80.0), ("CLOSED", 120.0, 300.0, 170.0)]


def test_the_watermark_closes_it_as_a_later_fix_does(tmp_path: Path) -> None:
    ending = fence(tmp_path, until="2026-04-01T00:05:00+00:00")
    vehicle = VehicleFences([ending], "veh-1", "ROBOTAXI", "op-1")
    t = np.array([START_MS - 5000, START_MS + 200_000, START_MS + 290_000], dtype=np.int64)
    records = vehicle.process(t, np.full(3, INSIDE[0]), np.full(3, INSIDE[1]))
    assert vehicle.advance(START_MS + 299_999) == []
    records += vehicle.advance(START_MS + 300_000)
    assert brief(records) == [("OPENED", 120.0, None, 80.0), ("CLOSED", 120.0, 300.0, 170.0)]
    assert vehicle.advance(END_MS) == []


def test_an_open_ended_fence_leaves_the_incident_open_at_the_end_of_input(tmp_path: Path) -> None:
    fixes = [(-5, INSIDE), (200, INSIDE), (230, INSIDE)]
    assert brief(judge([fence(tmp_path)], fixes)) == [
        ("OPENED", 120.0, None, 80.0),
        ("UPDATED", 120.0, None, 110.0),
    ]


def test_several_fences_each_have_their_incidents(tmp_path: Path) -> None:
    first = fence(tmp_path)
    later = fence(tmp_path, id="flood-2", effective_from="2026-04-01T00:10:00+00:00", exit_within_s=30)
    fixes = [(-5, INSIDE), (100, OUTSIDE), (590, INSIDE), (640, INSIDE), (700, OUTSIDE)]
    records = judge([first, later], fixes)
    assert [(r.rule_id, *brief([r])[0]) for r in records] == [
        ("fence:fire-1", "OPENED", 590.0, None, 0.0),
        ("fence:fire-1", "CLOSED", 590.0, 700.0, 50.0),
        ("fence:flood-2", "OPENED", 630.0, None, 10.0),
        ("fence:flood-2", "CLOSED", 630.0, 700.0, 10.0),
    ]


def by_fence(record: IncidentRecord) -> tuple[str, int, int]:
    """Records of one chunk come fence by fence: order them by fence, then as emitted."""
    return (record.rule_id, record.start_ms, 0 if record.status == "OPENED" else 1)


def test_the_records_do_not_depend_on_how_the_fixes_are_chunked(tmp_path: Path) -> None:
    fences = [fence(tmp_path), fence(tmp_path, id="flood-2", until="2026-04-01T00:04:00+00:00")]
    fixes = [
        (-5, INSIDE),
        (60, INSIDE),
        (130, INSIDE),
        (200, OUTSIDE),
        (220, INSIDE),
        (260, INSIDE),
        (300, OUTSIDE),
    ]
    whole = sorted(judge(fences, fixes), key=by_fence)
    assert [(r.rule_id, *brief([r])[0]) for r in whole] == [
        ("fence:fire-1", "OPENED", 120.0, None, 10.0),
        ("fence:fire-1", "CLOSED", 120.0, 200.0, 10.0),
        ("fence:fire-1", "OPENED", 220.0, None, 0.0),
        ("fence:fire-1", "CLOSED", 220.0, 300.0, 40.0),
        ("fence:flood-2", "OPENED", 120.0, None, 10.0),
        ("fence:flood-2", "CLOSED", 120.0, 200.0, 10.0),
        ("fence:flood-2", "OPENED", 220.0, None, 0.0),
        ("fence:flood-2", "CLOSED", 220.0, 240.0, 0.0),
    ]
    for cut in range(1, len(fixes)):
        assert sorted(judge(fences, fixes, cuts=(cut,)), key=by_fence) == whole
    assert sorted(judge(fences, fixes, cuts=tuple(range(1, len(fixes)))), key=by_fence) == whole
