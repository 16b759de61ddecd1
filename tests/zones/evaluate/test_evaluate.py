"""Rule evaluation: exact incidents per rule kind, window summaries, and chunk invariance.

The fixture zones are mapped in metres (see ``tests/zones/evaluate/test-zone.yaml``); tracks
are built fix by fix with ``fix(second, east_m, north_m, speed)`` so each test reads as a
little drive with a stopwatch.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pickle
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotzone import geo
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.contract import incident_schema
from pilotzone.zones import Zone, area_index, load_zone, load_zones
from pilotzone.zones.evaluate import (
    HOLD_S,
    EvaluationOutput,
    IncidentRecord,
    VehicleEvaluator,
    WindowSummary,
    ZonedBatch,
    assign_zones,
)
from pilotzone.zones.evaluate.summaries import SummaryKey
from tests.factories import INCIDENT_LOG_KEYS, T0_MS, sample
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.zones import geometries as g

HERE = Path(__file__).parent
VEHICLE = "veh-1"
SECOND = 1000


@functools.cache
def zones() -> list[Zone]:
    """The test zone and its east neighbour (loaded once; hypothesis tests share them)."""
    return load_zones([HERE / "test-zone.yaml", HERE / "neighbour-zone.yaml"])


@functools.cache
def every_kind_zone() -> Zone:
    return load_zone(EVERY_KIND_ZONE)


def fix(second: float, east: float, north: float, speed: float = 30.0, **overrides: Any) -> dict[str, Any]:
    """A sample ``second`` s after T0 at a metre offset from the fixture origin."""
    lon, lat = g.lonlat(east, north)
    return sample(
        vehicle_id=VEHICLE,
        current_location_timestamp=T0_MS + round(second * SECOND),
        current_location_longitude=lon,
        current_location_latitude=lat,
        speed=speed,
        **overrides,
    )


def numbered(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with sequence numbers 0, 1, 2 ... in order."""
    return [{**r, "sequence_number": i} for i, r in enumerate(records)]


def zoned(records: Sequence[dict[str, Any]], zone_list: Sequence[Zone] | None = None) -> ZonedBatch:
    return assign_zones(
        zones() if zone_list is None else zone_list, TelemetryBatch.from_records(list(records))
    )


@dataclass
class Result:
    """Everything an evaluator emitted over a whole run."""

    incidents: list[IncidentRecord]
    summaries: list[WindowSummary]
    outputs: list[EvaluationOutput]

    @property
    def merged(self) -> dict[SummaryKey, WindowSummary]:
        return merge_all(self.summaries)

    def kinds(self, kind: str) -> list[IncidentRecord]:
        return [r for r in self.incidents if r.kind == kind]


def merge_all(summaries: Iterable[WindowSummary]) -> dict[SummaryKey, WindowSummary]:
    merged: dict[SummaryKey, WindowSummary] = {}
    for summary in summaries:
        merged[summary.key] = merged[summary.key].merge(summary) if summary.key in merged else summary
    return merged


def run(
    batch: ZonedBatch,
    cuts: Sequence[int] = (),
    advances: dict[int, int] | None = None,
    *,
    zone_list: Sequence[Zone] | None = None,
    window_s: int = 60,
    pickle_between: bool = False,
) -> Result:
    """Evaluate ``batch`` cut before the rows in ``cuts``; ``advances[k]`` is a watermark before chunk k."""
    evaluator = VehicleEvaluator(zones() if zone_list is None else zone_list, VEHICLE, window_s)
    outputs: list[EvaluationOutput] = []
    bounds = [0, *cuts, len(batch)]
    for k in range(len(bounds) - 1):
        if advances and k in advances:
            outputs.append(evaluator.advance(advances[k]))
        if pickle_between and k:
            evaluator = pickle.loads(pickle.dumps(evaluator))
        outputs.append(evaluator.process(batch.take(np.arange(bounds[k], bounds[k + 1]))))
    outputs.append(evaluator.finish())
    return Result(
        [r for o in outputs for r in o.incidents], [s for o in outputs for s in o.summaries], outputs
    )


def evaluate(records: Sequence[dict[str, Any]], **kwargs: Any) -> Result:
    """Evaluate a hand-built track in one chunk; checks on the way that one chunk per sample,
    with the watermark advanced to each next sample, gives the same records and summaries."""
    batch = zoned(numbered(records), kwargs.get("zone_list"))
    whole = run(batch, **kwargs)
    times = batch.batch.time_ms.tolist()
    singles = run(batch, list(range(1, len(batch))), dict(enumerate(times[1:], start=1)), **kwargs)
    assert outcome(singles) == outcome(whole), "chunking changed the result"
    return whole


def outcome(result: Result) -> tuple[Counter[IncidentRecord], dict[Any, WindowSummary]]:
    """What must not depend on chunking: the multiset of records and the merged summaries."""
    return Counter(result.incidents), result.merged


def expected_id(zone: str, rule: str, start_ms: int) -> str:
    """The incident id as the contract defines it (computed here independently)."""
    return hashlib.sha256(f"{zone}|{rule}|{VEHICLE}|{start_ms}".encode()).hexdigest()[:20]


def record(
    status: str,
    rule_id: str,
    kind: str,
    *,
    start_s: float,
    end_s: float | None,
    peak: float | None,
    at: tuple[float, float],
    explanation: str,
    area: str | None = None,
    severity: str = "MINOR",
    operator: str = "op-a",
    deadline_ms: int | None = None,
    zone: Zone | None = None,
) -> IncidentRecord:
    """An expected incident record; ``at`` is the (east, north) metre offset of its start."""
    zone = zone or zones()[0]
    start_ms = T0_MS + round(start_s * SECOND)
    lon, lat = g.lonlat(*at)
    return IncidentRecord(
        incident_id=expected_id(zone.zone_id, rule_id, start_ms),
        status=status,
        pilot_zone=zone.zone_id,
        area=area,
        rule_id=rule_id,
        kind=kind,
        severity=severity,
        vehicle_id=VEHICLE,
        operator_id=operator,
        start_ms=start_ms,
        end_ms=None if end_s is None else T0_MS + round(end_s * SECOND),
        peak_value=peak,
        latitude=lat,
        longitude=lon,
        config_version=zone.version,
        report_deadline_ms=deadline_ms,
        explanation=explanation,
    )


ZONE_SPEED = "speed_limit zone-speed (50 km/h zone-wide) applies: the only speed_limit rule in force here"
IN_ZONE_ONLY = (1000.0, 2000.0)
"""In the test zone, in none of its areas: only zone-wide rules apply."""


# --- speed_limit ---------------------------------------------------------------------------


def test_speeding_opens_after_grace_updates_on_a_higher_peak_and_closes_after_the_hold() -> None:
    speeds = [40.0] * 5 + [62.0] * 5 + [62.0, 63.0, 70.0, 66.0] + [62.0] * 5 + [40.0] * 6
    east, north = IN_ZONE_ONLY
    result = evaluate([fix(s, east + 10 * s, north, v) for s, v in enumerate(speeds)])

    def speeding(status: str, end_s: float | None, peak: float, observed: str) -> IncidentRecord:
        return record(
            status,
            "zone-speed",
            "speed_limit",
            start_s=5,
            end_s=end_s,
            peak=peak,
            at=(east + 50, north),
            explanation=f"{observed} where {ZONE_SPEED}",
        )

    assert result.incidents == [
        speeding("OPENED", None, 12.0, "62 km/h (12 km/h over the limit) for 5 s"),
        # 63 km/h is 13 over the limit, less than 1.1 x 12: no update; 70 km/h (20 over) is.
        speeding("UPDATED", None, 20.0, "70 km/h (20 km/h over the limit) for 7 s"),
        speeding("CLOSED", 19, 20.0, "70 km/h (20 km/h over the limit) for 14 s"),
    ]


def test_one_fix_below_the_limit_does_not_split_a_speeding_run() -> None:
    speeds = [62.0] * 8 + [45.0] + [62.0] * 8 + [40.0] * 5
    east, north = IN_ZONE_ONLY
    result = evaluate([fix(s, east, north, v) for s, v in enumerate(speeds)])
    assert [(r.status, r.start_ms - T0_MS, r.end_ms and r.end_ms - T0_MS) for r in result.incidents] == [
        ("OPENED", 0, None),
        ("CLOSED", 0, 17 * SECOND),
    ]


def test_a_dip_as_long_as_the_hold_splits_the_run() -> None:
    dip = int(HOLD_S)
    speeds = [62.0] * 8 + [45.0] * dip + [62.0] * 8 + [40.0] * 5
    result = evaluate([fix(s, *IN_ZONE_ONLY, v) for s, v in enumerate(speeds)])
    starts = sorted({(r.start_ms - T0_MS) // SECOND for r in result.incidents})
    assert starts == [0, 8 + dip]
    closed = [r for r in result.incidents if r.status == "CLOSED"]
    assert [(r.end_ms - T0_MS) // SECOND for r in closed if r.end_ms is not None] == [8, 16 + dip]


def test_a_run_shorter_than_grace_leaves_no_trace() -> None:
    speeds = [62.0] * 5 + [40.0] * 10  # violating at 0..4 s: 4 s < grace 5 s
    result = evaluate([fix(s, *IN_ZONE_ONLY, v) for s, v in enumerate(speeds)])
    assert result.incidents == []
    assert all(s.violation_s_by_rule == {} for s in result.summaries)


SCHOOL_SPEED = (
    "speed_limit school-speed (30 km/h in school zone school 'Test school zone') applies: innermost area, "
    "takes precedence over district-speed (40 km/h in district district) and zone-speed (50 km/h zone-wide)"
)


def test_school_zone_tightens_the_district_limit() -> None:
    # 35 km/h through the school zone (30) inside the district (40), manually driven.
    track = [
        fix(s, -2100 + 10 * s, 100, 35.0, driving_mode="MANUAL", active_autonomy_level=None)
        for s in range(10)
    ]
    track += [
        fix(10 + s, -1800, 1000, 35.0, driving_mode="MANUAL", active_autonomy_level=None) for s in range(5)
    ]
    result = evaluate(track)
    assert result.incidents == [
        record(
            status,
            "school-speed",
            "speed_limit",
            start_s=0,
            end_s=end_s,
            peak=5.0,
            at=(-2100, 100),
            area="school",
            explanation=f"35 km/h (5 km/h over the limit) for {seconds} s where {SCHOOL_SPEED}",
        )
        for status, end_s, seconds in (("OPENED", None, 3), ("CLOSED", 10, 10))
    ]


@pytest.mark.parametrize(
    ("where", "speed", "expected"),
    [
        pytest.param((3000, 0), 70.0, [], id="corridor relaxes zone-wide 50 to 80"),
        pytest.param((-1000, 0), 70.0, [], id="corridor relaxes district 40 to 80"),
        pytest.param((3000, 0), 85.0, ["corridor-speed"], id="over the corridor limit"),
        pytest.param((-4000, 1500), 45.0, ["district-speed"], id="district tightens zone-wide 50 to 40"),
        pytest.param((-2000, 0), 35.0, ["school-speed"], id="school on the corridor still 30"),
    ],
)
def test_precedence_in_evaluation(where: tuple[float, float], speed: float, expected: list[str]) -> None:
    track = [fix(s, *where, speed, driving_mode="MANUAL", active_autonomy_level=None) for s in range(8)]
    result = evaluate(track)
    assert sorted({r.rule_id for r in result.kinds("speed_limit")}) == expected


# --- leave_boundary ---------------------------------------------------------------------------

STAY_IN = (
    "leave_boundary stay-in (stay inside the boundary, grace 10 s zone-wide) applies: "
    "the point is outside the zone boundary"
)


def test_leaving_the_boundary_for_longer_than_grace() -> None:
    # North at 10 m/s across the north edge (5000 m), then back inside at 21 s.
    track = [fix(s, 1000, 4950 + 10 * s) for s in range(21)]
    track += [fix(s, 1000, 4900) for s in range(21, 26)]
    result = evaluate(track, zone_list=zones()[:1])
    got = result.incidents
    assert [(r.status, r.start_ms - T0_MS, r.end_ms and r.end_ms - T0_MS) for r in got] == [
        ("OPENED", 6 * SECOND, None),  # 5010 m north: 10 m out, more than the 2 m accuracy
        ("UPDATED", 6 * SECOND, None),
        ("UPDATED", 6 * SECOND, None),
        ("CLOSED", 6 * SECOND, 21 * SECOND),
    ]
    # Peaks: 110 m at opening (16 s), then 130 m (>= 1.1 x 110) and 150 m (>= 1.1 x 130).
    assert [r.peak_value for r in got] == pytest.approx([110.0, 130.0, 150.0, 150.0], abs=0.05)
    assert (got[0].longitude, got[0].latitude) == g.lonlat(1000, 5010)
    assert got[0].explanation == f"110 m outside the zone boundary for 10 s where {STAY_IN}"
    assert got[-1].explanation == f"150 m outside the zone boundary for 15 s where {STAY_IN}"
    assert got[0].incident_id == expected_id("evaltest", "stay-in", T0_MS + 6 * SECOND)


def test_a_noisy_fix_outside_the_boundary_within_its_accuracy_is_no_violation() -> None:
    # 20 s along the edge; every fix 3 m outside with 5 m accuracy, one fix 30 m out.
    track = [fix(s, 1000 + 10 * s, 5003, current_location_horizontal_accuracy=5.0) for s in range(20)]
    track[8] = fix(8, 1080, 5030, current_location_horizontal_accuracy=5.0)
    result = evaluate(track, zone_list=zones()[:1])
    assert result.kinds("leave_boundary") == []


def test_a_vehicle_never_inside_is_placed_in_its_operators_zone() -> None:
    track = [fix(s, 1000, 5100) for s in range(15)]  # 100 m north of the boundary all along
    result = evaluate(track, zone_list=zones()[:1])
    assert [(r.status, r.rule_id, r.start_ms, r.peak_value) for r in result.incidents] == [
        ("OPENED", "stay-in", T0_MS, pytest.approx(100.0, abs=0.05)),
        ("UPDATED", "stay-in", T0_MS, pytest.approx(100.0, abs=0.05)),  # open at the end: up to its last fix
    ]
    assert result.incidents[-1].explanation.startswith("100 m outside the zone boundary for 14 s where")
    assert all(o.unplaced.size == 0 for o in result.outputs)


def test_samples_of_a_vehicle_in_no_zone_and_without_permit_anywhere_are_unplaced() -> None:
    track = numbered(fix(s, 9000, 0, operator_id="op-z") for s in range(5))
    batch = zoned(track)
    evaluator = VehicleEvaluator(zones(), VEHICLE)
    out = evaluator.process(batch)
    assert out.unplaced.tolist() == [0, 1, 2, 3, 4]
    assert out.incidents == [] and evaluator.finish().summaries == []


# --- restricted_area -------------------------------------------------------------------------

NO_AIRBASE = (
    "restricted_area no-airbase (no entry in restricted area airbase 'Air base') applies: "
    "the point is inside restricted area airbase 'Air base'"
)


def test_entering_a_restricted_area_is_an_incident_at_once() -> None:
    # North at 10 m/s from 95 m south of the air base (its south edge is at -2700 m).
    track = [fix(s, 2500, -2795 + 10 * s, 36.0) for s in range(55)]
    result = evaluate(track)
    assert result.kinds("restricted_area") == [
        record(
            status,
            "no-airbase",
            "restricted_area",
            start_s=10,
            end_s=end_s,
            peak=peak,
            at=(2500, -2695),
            area="airbase",
            severity="CRITICAL",
            explanation=f"inside airbase for {peak:g} s where {NO_AIRBASE}",
        )
        # Inside from -2695 m (10 s) to -2305 m (49 s); the first fix outside is at 50 s.
        for status, end_s, peak in (("OPENED", None, 0.0), ("CLOSED", 50, 40.0))
    ]


def test_a_restricted_area_crossed_between_two_sparse_fixes() -> None:
    # The helipad is 60 m square around (-1000, -1500); fixes 4 s and 100 m apart jump over it.
    track = [fix(4 * k, -1260 + 100 * k, -1500, 90.0) for k in range(6)]
    result = evaluate(track)
    explanation = (
        "crossed helipad between two fixes 4 s apart, both outside it (about 2.4 s inside on the "
        "straight line) where restricted_area no-helipad (no entry in restricted area helipad "
        "'Hospital helipad') applies: the point is inside restricted area helipad 'Hospital helipad'"
    )
    got = result.kinds("restricted_area")
    assert [(r.status, r.start_ms - T0_MS, r.end_ms and r.end_ms - T0_MS, r.area) for r in got] == [
        ("OPENED", 8 * SECOND, None, "helipad"),
        ("CLOSED", 8 * SECOND, 12 * SECOND, "helipad"),
    ]
    assert all(r.explanation == explanation and r.peak_value == pytest.approx(2.4, abs=0.01) for r in got)
    assert all(r.severity == "MAJOR" and r.incident_id == got[0].incident_id for r in got)
    # Located where the straight segment enters the helipad's west edge (-1030 m east).
    helipad = zones()[0].areas["helipad"].geometry
    entry = shapely.Point(got[0].longitude, got[0].latitude)
    assert shapely.distance(entry, helipad.boundary) < 1e-9
    assert geo.haversine_m(got[0].longitude, got[0].latitude, *g.lonlat(-1030, -1500)) < 0.05
    assert all("no-helipad" not in s.violation_s_by_rule for s in result.summaries)


def test_no_crossing_across_a_telemetry_gap() -> None:
    track = [fix(0, -1260, -1500), fix(1, -1160, -1500), fix(13, -860, -1500), fix(14, -850, -1500)]
    result = evaluate(track)
    assert result.kinds("restricted_area") == []
    assert [r.kind for r in result.incidents] == ["telemetry_gap", "telemetry_gap"]


# --- operating_hours, driving_mode, dwell, permit -----------------------------------------------


def test_driving_outside_operating_hours() -> None:
    # 22:59:50 to 23:00:09 Seoul time on a Monday; the zone permits 06:00-23:00.
    before_23 = 13 * 3600 - 10
    track = [fix(before_23 + s, *IN_ZONE_ONLY) for s in range(20)]
    result = evaluate(track)
    assert result.incidents == [
        record(
            "OPENED",
            "hours",
            "operating_hours",
            start_s=13 * 3600,
            end_s=None,
            peak=0.0,
            at=IN_ZONE_ONLY,
            explanation=(
                "driving from mon 23:00 local time, outside the permitted hours, for 0 s where "
                "operating_hours hours (permitted daily 06:00-23:00 zone-wide) applies: "
                "the only operating_hours rule in force here"
            ),
        ),
        # Still open when the data ends: its duration up to the last fix, 23:00:09.
        record(
            "UPDATED",
            "hours",
            "operating_hours",
            start_s=13 * 3600,
            end_s=None,
            peak=9.0,
            at=IN_ZONE_ONLY,
            explanation=(
                "driving from mon 23:00 local time, outside the permitted hours, for 9 s where "
                "operating_hours hours (permitted daily 06:00-23:00 zone-wide) applies: "
                "the only operating_hours rule in force here"
            ),
        ),
    ]


def test_driverless_in_the_school_zone_breaks_the_driving_mode_rule() -> None:
    track = [fix(s, -2100 + 7 * s, 100, 25.0) for s in range(10)]  # autonomous at 25 km/h
    track += [fix(10 + s, -1800, 1000, 25.0) for s in range(5)]
    result = evaluate(track)
    explanation = (
        "driving mode AUTONOMOUS for {} s where driving_mode school-manual (allowed MANUAL in school "
        "zone school 'Test school zone') applies: the only driving_mode rule in force here"
    )
    assert result.incidents == [
        record(
            status,
            "school-manual",
            "driving_mode",
            start_s=0,
            end_s=end_s,
            peak=peak,
            at=(-2100, 100),
            area="school",
            severity="MAJOR",
            explanation=explanation.format(f"{peak:g}"),
        )
        for status, end_s, peak in (("OPENED", None, 0.0), ("CLOSED", 10, 10.0))
    ]


def test_dwell_with_speed_hysteresis() -> None:
    # Stopped (0.5 km/h) from 0 s; 1.5 km/h at 60-64 s stays a stop (resumes only at 2 km/h);
    # moving at 10 km/h from 131 s.
    speeds = [0.5] * 60 + [1.5] * 5 + [0.5] * 66 + [10.0] * 5
    result = evaluate([fix(s, *IN_ZONE_ONLY, v) for s, v in enumerate(speeds)])
    where = "where dwell dwell (max 120 s stopped zone-wide) applies: the only dwell rule in force here"
    assert result.incidents == [
        record(
            status,
            "dwell",
            "dwell",
            start_s=0,
            end_s=end_s,
            peak=peak,
            at=IN_ZONE_ONLY,
            explanation=f"stopped (below 1 km/h) for {peak:g} s {where}",
        )
        for status, end_s, peak in (("OPENED", None, 121.0), ("CLOSED", 131, 131.0))
    ]


@pytest.mark.parametrize(
    ("operator", "vehicle_class", "detail", "why"),
    [
        (
            "op-z",
            "CAR",
            "operator op-z (no permit in this zone) running a CAR",
            "CAR vehicles may be run here only by op-a",
        ),
        (
            "op-b",
            "ROBOTAXI",
            "operator op-b (permitted for DELIVERY_ROBOT) running a ROBOTAXI",
            "ROBOTAXI vehicles may be run here only by op-a",
        ),
    ],
)
def test_permit_incident_per_stretch_in_the_zone(
    operator: str, vehicle_class: str, detail: str, why: str
) -> None:
    moving = {"operator_id": operator, "vehicle_class": vehicle_class}
    track = [fix(s, *IN_ZONE_ONLY, **moving) for s in range(8)]
    track += [fix(30 + s, *IN_ZONE_ONLY, **moving) for s in range(3)]  # after a 22 s gap
    result = evaluate(track)
    where = f"where permit permits (operator permits zone-wide) applies: {why}"
    assert result.kinds("permit") == [
        record(
            "OPENED",
            "permits",
            "permit",
            start_s=0,
            end_s=None,
            peak=0.0,
            at=IN_ZONE_ONLY,
            operator=operator,
            severity="MAJOR",
            explanation=f"{detail} for 0 s {where}",
        ),
        record(
            "CLOSED",
            "permits",
            "permit",
            start_s=0,
            end_s=7,
            peak=7.0,
            at=IN_ZONE_ONLY,
            operator=operator,
            severity="MAJOR",
            explanation=f"{detail} for 7 s {where}",
        ),
        record(
            "OPENED",
            "permits",
            "permit",
            start_s=30,
            end_s=None,
            peak=0.0,
            at=IN_ZONE_ONLY,
            operator=operator,
            severity="MAJOR",
            explanation=f"{detail} for 0 s {where}",
        ),
        record(
            "UPDATED",
            "permits",
            "permit",
            start_s=30,
            end_s=None,
            peak=2.0,
            at=IN_ZONE_ONLY,
            operator=operator,
            severity="MAJOR",
            explanation=f"{detail} for 2 s {where}",
        ),
    ]


def test_entering_another_zone_switches_rules() -> None:
    # 70 km/h eastwards: one fix in the test zone (50 km/h, shorter than grace), then the
    # neighbour zone (60 km/h, grace 2 s). Leaving the first zone into another is no leave_boundary.
    track = [fix(0, 4990, 100, 70.0)] + [fix(s, 4990 + 20 * s, 100, 70.0) for s in range(1, 10)]
    result = evaluate(track)
    neighbour = zones()[1]
    where = "speed_limit speed (60 km/h zone-wide) applies: the only speed_limit rule in force here"
    assert result.incidents == [
        record(
            "OPENED",
            "speed",
            "speed_limit",
            start_s=1,
            end_s=None,
            peak=10.0,
            at=(5010, 100),
            zone=neighbour,
            explanation=f"70 km/h (10 km/h over the limit) for 2 s where {where}",
        ),
        record(
            "UPDATED",
            "speed",
            "speed_limit",
            start_s=1,
            end_s=None,
            peak=10.0,
            at=(5010, 100),
            zone=neighbour,
            explanation=f"70 km/h (10 km/h over the limit) for 8 s where {where}",
        ),
    ]
    (first, second) = sorted(result.merged.values(), key=lambda w: w.pilot_zone)
    assert (first.pilot_zone, first.samples, second.pilot_zone, second.samples) == (
        "evaltest",
        1,
        "neighbour",
        9,
    )


# --- telemetry_gap ----------------------------------------------------------------------------

GAP = "telemetry_gap gap (max gap 10 s zone-wide) applies: the only telemetry_gap rule in force here"


def gap_records() -> list[IncidentRecord]:
    return [
        record(
            "OPENED",
            "gap",
            "telemetry_gap",
            start_s=5,
            end_s=None,
            peak=None,
            at=(1050, 2000),
            explanation=f"no fix for more than 10 s after this one where {GAP}",
        ),
        record(
            "CLOSED",
            "gap",
            "telemetry_gap",
            start_s=5,
            end_s=20,
            peak=15.0,
            at=(1050, 2000),
            explanation=f"no fix for 15 s (more than 10 s) where {GAP}",
        ),
    ]


def gap_track() -> ZonedBatch:
    seconds = [0, 1, 2, 3, 4, 5, 20, 21, 22]
    return zoned(numbered(fix(s, 1000 + 10 * s, 2000) for s in seconds))


def test_a_gap_between_two_fixes() -> None:
    assert run(gap_track()).incidents == gap_records()


def test_a_gap_seen_by_advance_gives_the_same_records() -> None:
    batch = gap_track()
    silent = run(batch, cuts=[6], advances={1: T0_MS + 15 * SECOND})  # exactly 10 s: not yet a gap
    assert silent.incidents == gap_records()
    assert silent.outputs[1].incidents == []
    result = run(batch, cuts=[6], advances={1: T0_MS + 15 * SECOND + 1})
    assert result.incidents == gap_records()
    assert result.outputs[1].incidents == gap_records()[:1]  # OPENED by advance, before any new fix
    assert result.outputs[2].incidents == gap_records()[1:]


def test_a_gap_ends_runs_at_the_last_fix_before_it() -> None:
    speeds = [62.0] * 8
    track = [fix(s, *IN_ZONE_ONLY, v) for s, v in enumerate(speeds)] + [fix(30, *IN_ZONE_ONLY, 40.0)]
    result = evaluate(track)
    closed = [r for r in result.kinds("speed_limit") if r.status == "CLOSED"]
    assert [(r.end_ms, r.peak_value) for r in closed] == [(T0_MS + 7 * SECOND, 12.0)]


def test_finish_leaves_incidents_open_and_advance_does_not_close_runs() -> None:
    track = numbered(fix(s, *IN_ZONE_ONLY, 62.0) for s in range(8))
    evaluator = VehicleEvaluator(zones(), VEHICLE)
    opened = evaluator.process(zoned(track)).incidents
    advanced = evaluator.advance(T0_MS + 3600 * SECOND).incidents
    finished = evaluator.finish()
    assert [(r.kind, r.status, r.peak_value) for r in opened] == [("speed_limit", "OPENED", 12.0)]
    assert [(r.kind, r.status) for r in advanced] == [("telemetry_gap", "OPENED")]
    # Still open, with the peak and duration its last fix shows (7 s at 12 km/h over), whatever
    # the silence after it: the window summaries count its violation time up to that fix too.
    assert [(r.kind, r.status, r.end_ms, r.peak_value, r.observed_until_ms) for r in finished.incidents] == [
        ("speed_limit", "UPDATED", None, 12.0, T0_MS + 7 * SECOND)
    ]
    assert "62 km/h (12 km/h over the limit) for 7 s where" in finished.incidents[0].explanation
    assert evaluator.finish().incidents == finished.incidents  # finish says the same each time


# --- vehicle_event ----------------------------------------------------------------------------


def test_vehicle_events_become_incidents_with_report_deadlines() -> None:
    def event(kind: str, initiator: str | None) -> dict[str, Any]:
        return {"kind": kind, "initiated_by": initiator}

    events = {
        2: [event("DISENGAGEMENT", "SAFETY_DRIVER"), event("DISENGAGEMENT", "SYSTEM")],
        4: [event("REMOTE_TAKEOVER", "SAFETY_DRIVER")],  # the rule covers remote operators only
        5: [event("REMOTE_TAKEOVER", "REMOTE_OPERATOR"), event("HARSH_BRAKING", None)],
        6: [event("COLLISION", None)],
    }
    result = evaluate([fix(s, *IN_ZONE_ONLY, events=events.get(s, [])) for s in range(8)])
    disengagement = (
        "DISENGAGEMENT reported (initiated by SAFETY_DRIVER) where vehicle_event disengagements "
        "(DISENGAGEMENT, report within 24 h zone-wide) applies: the only vehicle_event rule for "
        "DISENGAGEMENT in force here"
    )
    takeover = (
        "REMOTE_TAKEOVER reported (initiated by REMOTE_OPERATOR) where vehicle_event remote-takeovers "
        "(REMOTE_TAKEOVER by REMOTE_OPERATOR zone-wide) applies: the only vehicle_event rule for "
        "REMOTE_TAKEOVER in force here"
    )
    collision = (
        "COLLISION reported (initiator not given) where vehicle_event collisions (COLLISION, report "
        "within 1 h zone-wide) applies: the only vehicle_event rule for COLLISION in force here"
    )
    expected = [
        (2, "disengagements", "MINOR", 24, disengagement),
        (5, "remote-takeovers", "MINOR", None, takeover),
        (6, "collisions", "CRITICAL", 1, collision),
    ]
    assert result.incidents == [
        record(
            status,
            rule_id,
            "vehicle_event",
            start_s=second,
            end_s=end,
            peak=None,
            at=IN_ZONE_ONLY,
            severity=severity,
            deadline_ms=None if hours is None else T0_MS + second * SECOND + hours * 3_600_000,
            explanation=explanation,
        )
        for second, rule_id, severity, hours, explanation in expected
        for status, end in (("OPENED", None), ("CLOSED", second))
    ]
    (summary,) = result.merged.values()
    assert (summary.disengagements, summary.remote_takeovers) == (2, 2)
    assert summary.incidents_opened == {("vehicle_event", "CRITICAL"): 1, ("vehicle_event", "MINOR"): 2}


# --- duplicates -------------------------------------------------------------------------------


def test_duplicates_are_reported_and_change_nothing() -> None:
    speeds = [62.0] * 10 + [40.0] * 5
    track = numbered(fix(s, *IN_ZONE_ONLY, v) for s, v in enumerate(speeds))
    with_copies = [*track[:4], track[3], *track[4:9], dict(track[8]), *track[9:]]
    clean = run(zoned(track))
    evaluator = VehicleEvaluator(zones(), VEHICLE)
    first = evaluator.process(zoned(with_copies[:10]))
    second = evaluator.process(zoned(with_copies[10:]))  # starts with a copy of the last sample
    rest = evaluator.finish()
    assert first.duplicates.tolist() == [4] and second.duplicates.tolist() == [0]
    assert first.incidents + second.incidents == clean.incidents
    assert merge_all(first.summaries + second.summaries + rest.summaries) == clean.merged


def test_a_sequence_number_reused_after_the_horizon_is_not_a_duplicate() -> None:
    track = numbered(fix(s, *IN_ZONE_ONLY) for s in range(3))
    later = {**track[0], "current_location_timestamp": T0_MS + 400 * SECOND}  # 400 s > 300 s horizon
    evaluator = VehicleEvaluator(zones(), VEHICLE)
    evaluator.process(zoned(track))
    assert evaluator.process(zoned([later])).duplicates.tolist() == []


# --- window summaries -------------------------------------------------------------------------


def test_window_summary_values_for_a_simple_track() -> None:
    # 90 fixes 1 s apart, 8 m apart eastwards; autonomous until 29 s, manual from 30 s.
    track = [
        fix(s, 1000 + 8 * s, 2000, 20.0, **({} if s < 30 else {"driving_mode": "MANUAL"})) for s in range(90)
    ]
    result = evaluate(track)
    lon = np.array([g.lonlat(1000 + 8 * s, 2000)[0] for s in range(90)])
    lat = np.full(90, g.lonlat(0, 2000)[1])
    step_mm = np.rint(geo.haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:]) * 1000).astype(int)
    assert set(step_mm.tolist()) == {7998}  # 8 m at the origin's latitude, 2 km further north
    first, second = (
        result.merged[("evaltest", zones()[0].version, "op-a", "ROBOTAXI", T0_MS + k * 60 * SECOND)]
        for k in (0, 1)
    )
    assert first == WindowSummary(
        "evaltest",
        zones()[0].version,
        "op-a",
        "ROBOTAXI",
        T0_MS,
        samples=60,
        vehicle_ids=frozenset({VEHICLE}),
        vehicle_seconds=59.0,
        distance_m_by_mode={"AUTONOMOUS": 239.94, "MANUAL": 231.942},  # 30 and 29 steps
        violation_s_by_rule={},
        incidents_opened={},
    )
    assert (second.samples, second.vehicle_seconds, second.distance_m_by_mode) == (
        30,
        30.0,
        {"MANUAL": 239.94},
    )
    assert len(result.summaries) == 2


def test_violation_seconds_are_clipped_to_windows() -> None:
    # Speeding from 50 s to 75 s (first fix under the limit): 10 s in the first window, 15 s in the next.
    speeds = [40.0] * 50 + [62.0] * 25 + [40.0] * 10
    result = evaluate([fix(s, *IN_ZONE_ONLY, v) for s, v in enumerate(speeds)])
    windows = [
        result.merged[("evaltest", zones()[0].version, "op-a", "ROBOTAXI", T0_MS + k * 60 * SECOND)]
        for k in (0, 1)
    ]
    assert [w.violation_s_by_rule for w in windows] == [{"zone-speed": 10.0}, {"zone-speed": 15.0}]
    assert [w.incidents_opened for w in windows] == [{("speed_limit", "MINOR"): 1}, {}]


def test_windows_are_emitted_once_nothing_can_change_them() -> None:
    batch = zoned(numbered(fix(s, *IN_ZONE_ONLY) for s in range(176)))
    evaluator = VehicleEvaluator(zones(), VEHICLE)
    emitted = evaluator.process(batch).summaries
    assert [s.window_start_ms - T0_MS for s in emitted] == [0, 60 * SECOND]
    # At 185 s the window 120-180 s is over, but the next fix may still show a gap or a crossing
    # starting at the last fix (175 s), which would count in that window.
    assert evaluator.advance(T0_MS + 185 * SECOND).summaries == []
    late = evaluator.advance(T0_MS + 185 * SECOND + 1)  # silent for more than 10 s: a gap, decided
    assert [s.window_start_ms - T0_MS for s in late.summaries] == [120 * SECOND]
    assert late.summaries[0].incidents_opened == {("telemetry_gap", "MINOR"): 1}
    assert evaluator.finish().summaries == []


def summary(window: int, **values: Any) -> WindowSummary:
    return WindowSummary("z", "sha256:0123456789abcdef", "op", "CAR", window, **values)


def test_window_summary_merge_is_exactly_associative_and_commutative() -> None:
    a = summary(
        0, samples=1, vehicle_ids=frozenset({"a"}), vehicle_seconds=0.1, distance_m_by_mode={"MANUAL": 0.1}
    )
    b = summary(
        0, samples=2, vehicle_ids=frozenset({"b"}), vehicle_seconds=0.2, violation_s_by_rule={"r": 0.7}
    )
    c = summary(
        0,
        samples=3,
        vehicle_ids=frozenset({"a", "c"}),
        vehicle_seconds=0.3,
        distance_m_by_mode={"MANUAL": 0.2, "AUTONOMOUS": 1.5},
        incidents_opened={("speed_limit", "MINOR"): 2},
        disengagements=1,
    )
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    assert left == right == c.merge(a).merge(b) == b.merge(c).merge(a)
    assert left == summary(
        0,
        samples=6,
        vehicle_ids=frozenset({"a", "b", "c"}),
        vehicle_seconds=0.6,  # (0.1 + 0.2) + 0.3 would be 0.6000000000000001 in floats
        distance_m_by_mode={"AUTONOMOUS": 1.5, "MANUAL": 0.3},
        violation_s_by_rule={"r": 0.7},
        incidents_opened={("speed_limit", "MINOR"): 2},
        disengagements=1,
    )
    with pytest.raises(ValueError, match="different keys"):
        a.merge(summary(60_000))


# --- records ----------------------------------------------------------------------------------


def test_incident_json_has_the_contract_keys_in_order_and_rfc3339_times() -> None:
    incident = gap_records()[1]
    as_json = incident.to_json()
    assert list(as_json) == INCIDENT_LOG_KEYS
    assert (as_json["start_time"], as_json["end_time"]) == (
        "2026-11-23T01:00:05.000Z",
        "2026-11-23T01:00:20.000Z",
    )
    assert as_json["report_deadline"] is None
    opened = gap_records()[0].to_json()
    assert opened["end_time"] is None and opened["peak_value"] is None
    odd = dataclasses.replace(incident, start_ms=T0_MS + 7, report_deadline_ms=T0_MS + 86_400_123)
    assert (odd.to_json()["start_time"], odd.to_json()["report_deadline"]) == (
        "2026-11-23T01:00:00.007Z",
        "2026-11-24T01:00:00.123Z",
    )


def test_incident_avro_records_match_the_schema() -> None:
    records = [*gap_records(), *run(zoned(numbered(fix(s, *IN_ZONE_ONLY, 62.0) for s in range(8)))).incidents]
    schema = fastavro.parse_schema(incident_schema())
    for incident in records:
        assert fastavro.validation.validate(incident.to_avro(), schema)
    assert (
        records[0].to_avro()["status"] == "OPENED" and records[1].to_avro()["end_time"] == T0_MS + 20 * SECOND
    )


# --- assign_zones -----------------------------------------------------------------------------


@functools.cache
def vertices() -> list[tuple[float, float]]:
    """Every corner of every boundary and area of the fixture zones: points exactly on edges."""
    geometries = [z.boundary for z in zones()] + [a.geometry for z in zones() for a in z.areas.values()]
    return [(float(x), float(y)) for x, y in shapely.get_coordinates(np.array(geometries, dtype=object))]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-6000, 9000), st.floats(-6000, 6000)), min_size=1, max_size=60),
    st.lists(st.integers(0, 10_000), max_size=10),
)
def test_assign_zones_matches_brute_force_shapely(
    points: list[tuple[float, float]], corners: list[int]
) -> None:
    zone_list = zones()
    coordinates = [g.lonlat(e, n) for e, n in points] + [vertices()[c % len(vertices())] for c in corners]
    records = [
        sample(current_location_longitude=lon, current_location_latitude=lat, sequence_number=i)
        for i, (lon, lat) in enumerate(coordinates)
    ]
    result = assign_zones(zone_list, TelemetryBatch.from_records(records))
    for i, (lon, lat) in enumerate(coordinates):
        point = shapely.Point(lon, lat)
        inside = [z for z, zone in enumerate(zone_list) if zone.boundary.intersects(point)]
        assert result.zone[i] == (inside[0] if inside else -1)
        if not inside:
            assert result.areas_of(i).tolist() == []
            continue
        zone = zone_list[inside[0]]
        ids = area_index(zone).area_ids
        assert result.areas_of(i).tolist() == [
            p for p, a in enumerate(ids) if zone.areas[a].geometry.intersects(point)
        ]


def test_zoned_batch_take_and_concat_keep_areas_with_their_samples() -> None:
    batch = zoned(numbered([fix(0, -2000, 100), fix(1, 9000, 0), fix(2, -1000, 0), fix(3, 2500, -2500)]))
    areas = [[area_index(zones()[0]).area_ids[c] for c in batch.areas_of(i)] for i in range(4)]
    assert areas == [["district", "school"], [], ["district", "corridor"], ["airbase"]]
    picked = batch.take(np.array([3, 0]))
    assert picked.zone.tolist() == [0, 0]
    assert [picked.areas_of(i).tolist() for i in range(2)] == [
        batch.areas_of(3).tolist(),
        batch.areas_of(0).tolist(),
    ]
    rejoined = ZonedBatch.concat([batch.take(np.array([0, 1])), batch.take(np.array([2, 3]))])
    assert rejoined.zone.tolist() == batch.zone.tolist()
    assert rejoined.area_offsets.tolist() == batch.area_offsets.tolist()
    assert rejoined.area_codes.tolist() == batch.area_codes.tolist()
    for start, end in ((0, 4), (1, 3), (2, 2), (3, 4)):
        span, taken = batch.span(start, end), batch.take(np.arange(start, end))
        assert span.zone.tolist() == taken.zone.tolist()
        assert span.area_offsets.tolist() == taken.area_offsets.tolist()
        assert span.area_codes.tolist() == taken.area_codes.tolist()


def test_samples_out_of_order_are_refused() -> None:
    evaluator = VehicleEvaluator(zones(), VEHICLE)
    evaluator.process(zoned(numbered([fix(5, *IN_ZONE_ONLY)])))
    with pytest.raises(ValueError, match="time order"):
        evaluator.process(zoned(numbered([fix(4, *IN_ZONE_ONLY)])))


# --- chunk invariance -------------------------------------------------------------------------

PLACES = [(-2000, 0), (-2000, 200), (2500, -2250), (2500, -2800), (4990, 0), (5200, 100), (-4980, 1000)]
PLACES += [(0, 0), (2500, 2500), (9000, 0), (-1000, -1560), (-1060, -1500), (1000, 4995)]
TARGETS = [(-1000, -1500), (2500, -2500), (-2000, 0), (5000, 0), (1000, 5000)]
VEHICLES = [
    ("op-a", "ROBOTAXI"),
    ("op-a", "TRUCK"),
    ("op-c", "TRUCK"),
    ("op-z", "CAR"),
    ("op-b", "DELIVERY_ROBOT"),
]
EVENTS = ["DISENGAGEMENT", "COLLISION", "REMOTE_TAKEOVER", "HARSH_BRAKING"]

legs = st.tuples(
    st.integers(1, 30),  # fixes
    st.sampled_from([0, 200, 1000, 1000, 1000, 2500, 3000, 4000, 10000, 12000, 20000, 25000]),  # ms apart
    st.one_of(st.floats(0, 360), st.sampled_from(TARGETS)),  # heading, or drive towards a place
    st.sampled_from([0.0, 0.5, 1.5, 3.5, 25.0, 35.0, 45.0, 55.0, 70.0, 90.0]),  # km/h
    st.sampled_from(["AUTONOMOUS", "AUTONOMOUS", "MANUAL", "REMOTE_OPERATED"]),
    st.booleans(),  # a long stop (dwell) instead, if the speed is a stop
)


@st.composite
def tracks(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A random vehicle: a few legs of driving, stops and silences around the fixture's places."""
    east, north = draw(st.sampled_from(PLACES))
    start_s = draw(st.sampled_from([0, 13 * 3600 - 60]))  # 10:00, or a minute before closing time
    operator, vehicle_class = draw(st.sampled_from(VEHICLES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = T0_MS + start_s * SECOND
    records: list[dict[str, Any]] = []
    for fixes, every_ms, direction, speed, mode, long_stop in draw(st.lists(legs, min_size=1, max_size=6)):
        count, step_ms = (125, 1000) if long_stop and speed < 1 else (fixes, every_ms)
        heading = (
            float(np.degrees(np.arctan2(direction[0] - east, direction[1] - north)))
            if isinstance(direction, tuple)
            else direction
        )
        for _ in range(count):
            v = max(0.0, speed + float(rng.choice([0, 0, 0, -10, 10, -1.0, 1.0])))
            metres = v / 3.6 * step_ms / 1000
            east += metres * np.sin(np.radians(heading))
            north += metres * np.cos(np.radians(heading))
            lon, lat = g.lonlat(east, north)
            events = []
            if rng.random() < 0.05:
                kind = EVENTS[int(rng.integers(len(EVENTS)))]
                events = [
                    {"kind": kind, "initiated_by": ["SYSTEM", "REMOTE_OPERATOR", None][int(rng.integers(3))]}
                ]
            records.append(
                sample(
                    vehicle_id=VEHICLE,
                    operator_id=operator,
                    vehicle_class=vehicle_class,
                    sequence_number=len(records),
                    current_location_timestamp=t,
                    current_location_longitude=lon,
                    current_location_latitude=lat,
                    current_location_horizontal_accuracy=float(rng.choice([2.0, 2.0, 15.0])),
                    speed=v,
                    driving_mode=mode,
                    active_autonomy_level=None if mode == "MANUAL" else 4,
                    events=events,
                )
            )
            t += step_ms if rng.random() > 0.05 else 0
    return records


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tracks(), st.data())
def test_chunk_invariance(records: list[dict[str, Any]], data: st.DataObject) -> None:
    batch = zoned(records)
    whole = run(batch)
    n = len(records)
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=8), label="cuts")) if n > 1 else []
    advances: dict[int, int] = {}
    for k, cut in enumerate(cuts, start=1):
        share = data.draw(st.sampled_from([None, 0.0, 0.5, 1.0]), label=f"advance before chunk {k}")
        if share is not None and data.draw(st.booleans(), label="just past the last fix's gap limit"):
            low = int(batch.batch.time_ms[cut - 1])
            advances[k] = min(low + 10 * SECOND + 1, int(batch.batch.time_ms[cut]))
            continue
        if share is not None:
            low, high = int(batch.batch.time_ms[cut - 1]), int(batch.batch.time_ms[cut])
            advances[k] = low + round(share * (high - low))
    chunked = run(batch, cuts, advances, pickle_between=data.draw(st.booleans(), label="pickle"))
    assert outcome(chunked) == outcome(whole)
    keys = Counter(s.key for s in chunked.summaries)
    assert max(keys.values(), default=1) == 1, "a window summary was emitted twice"


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tracks(), st.data())
def test_exact_duplicates_change_nothing(records: list[dict[str, Any]], data: st.DataObject) -> None:
    copies = data.draw(st.sets(st.integers(0, len(records) - 1), min_size=1, max_size=5), label="copies")
    with_copies: list[dict[str, Any]] = []
    duplicate_rows = []
    for i, r in enumerate(records):
        with_copies.append(r)
        if i in copies:
            duplicate_rows.append(len(with_copies))
            with_copies.append(dict(r))
    clean = run(zoned(records))
    result = run(zoned(with_copies))
    assert outcome(result) == outcome(clean)
    assert result.outputs[0].duplicates.tolist() == duplicate_rows


def test_every_kind_zone_chunked_series_matches_one_chunk() -> None:
    """A longer mixed series in the simulator's zone, cut into minute-long chunks."""
    zone_list = [every_kind_zone()]
    rng = np.random.default_rng(7)
    n = 900
    angle = np.linspace(0, 2 * np.pi, n)
    lon = 126.852 + 0.025 * np.cos(angle)  # a loop through the school zone and the airfield that
    lat = 35.1575 + 0.005 * np.sin(angle)  # leaves the boundary on the west side
    speed = np.clip(45 + 15 * np.sin(angle * 9) + rng.normal(0, 3, n), 0, None)
    speed[300:460] = 0.3
    records = [
        sample(
            vehicle_id=VEHICLE,
            operator_id="op-taxi",
            sequence_number=i,
            current_location_timestamp=T0_MS + 1000 * i + (20_000 if i > 600 else 0),
            current_location_longitude=float(lon[i]),
            current_location_latitude=float(lat[i]),
            speed=float(speed[i]),
            events=[{"kind": "DISENGAGEMENT", "initiated_by": "SYSTEM"}] if i % 200 == 0 else [],
        )
        for i in range(n)
    ]
    batch = zoned(records, zone_list)
    whole = run(batch, zone_list=zone_list)
    kinds = {r.kind for r in whole.incidents}
    assert kinds == {
        "speed_limit",
        "leave_boundary",
        "restricted_area",
        "driving_mode",
        "dwell",
        "telemetry_gap",
        "vehicle_event",
    }
    cuts = list(range(60, n, 60))
    advances = {k: int(batch.batch.time_ms[c]) for k, c in enumerate(cuts, start=1)}
    assert outcome(run(batch, cuts, advances, zone_list=zone_list)) == outcome(whole)
