"""The public version: no published figure about fewer than k vehicles, whatever the run."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.pipelines.reports.figures import Period, group_figures, parse_time, time_series, zone_total
from pilotzone.pipelines.reports.public import TOTAL, Grid, public_view
from tests.pipelines.reports.runs import incident, summary

T0 = parse_time("2026-11-23T01:00:00Z")
BOUNDS = (126.830, 35.140, 126.880, 35.175)
GROUPS = [("op-taxi", "ROBOTAXI"), ("op-taxi", "CAR"), ("op-transit", "BUS"), ("op-robots", "DELIVERY_ROBOT")]

runs = st.fixed_dictionaries(
    {
        # per window (0..4) and group: active vehicles (0: no row)
        "active": st.lists(st.lists(st.integers(0, 14), min_size=4, max_size=4), min_size=1, max_size=5),
        # incidents: (minute, kind index, severity index, vehicle, lon step, lat step)
        "incidents": st.lists(
            st.tuples(
                st.integers(0, 4),
                st.integers(0, 2),
                st.integers(0, 2),
                st.integers(0, 30),
                st.integers(0, 9),
                st.integers(0, 7),
            ),
            max_size=50,
        ),
        "k": st.integers(2, 12),
    }
)


def build(run: dict[str, Any]) -> tuple[Any, Any, Any, Any, list[dict[str, Any]]]:
    rows = [
        summary(minute, operator, vehicle_class, vehicles=count, samples=60 * count)
        for minute, counts in enumerate(run["active"])
        for (operator, vehicle_class), count in zip(GROUPS, counts, strict=True)
        if count
    ]
    incidents = [
        incident(
            n,
            minute=minute,
            kind=("speed_limit", "dwell", "permit")[kind],
            severity=("CRITICAL", "MAJOR", "MINOR")[severity],
            vehicle=f"veh-{vehicle}",
            lon=126.8305 + lon * 0.005,
            lat=35.1405 + lat * 0.004,
            version="v",
        )
        for n, (minute, kind, severity, vehicle, lon, lat) in enumerate(run["incidents"])
    ]
    period = Period(T0, T0 + 5 * 60_000)
    groups = group_figures(rows)
    total = zone_total(groups, rows)
    buckets = time_series(rows, incidents, period)
    statuses = ["due" if n % 3 else "not_required" for n in range(len(incidents))]
    view = public_view(
        groups,
        total=total,
        buckets=buckets,
        incidents=incidents,
        statuses=statuses,
        bounds=BOUNDS,
        k=run["k"],
    )
    return view, groups, total, buckets, incidents


def ok(vehicles: int, k: int) -> bool:
    return vehicles == 0 or vehicles >= k


@settings(max_examples=150, deadline=None)
@given(run=runs)
def test_no_published_cell_breaks_k(run: dict[str, Any]) -> None:
    view, groups, total, buckets, _incidents = build(run)
    k = view.k
    for index, group in enumerate(groups):
        if index not in view.hidden_groups:
            assert group.min_vehicles >= k
    if not view.total_hidden:
        assert ok(total.min_vehicles, k)
    for key, cell in view.kinds.cells.items():
        if key not in view.kinds.hidden:
            assert ok(len(cell.vehicles), k), key
    for key, cell in view.grid_cells.items():
        if key not in view.hidden_grid_cells:
            assert ok(len(cell.vehicles), k), key
    for index, bucket in enumerate(buckets):
        if index not in view.hidden_activity and bucket.samples:
            assert bucket.min_vehicles >= k
        if index not in view.hidden_bucket_incidents:
            assert ok(len(bucket.incident_vehicles), k)
    for key, cell in view.report_statuses.items():
        if key not in view.hidden_report_statuses:
            assert ok(len(cell.vehicles), k), key
    # complementary: what total - published gives away is about k vehicles or more
    withheld_groups = [g for i, g in enumerate(groups) if i in view.hidden_groups]
    if withheld_groups and not view.total_hidden:
        assert sum(g.min_vehicles for g in withheld_groups) >= k
    withheld_activity = [b for i, b in enumerate(buckets) if i in view.hidden_activity and b.samples]
    if withheld_activity and not view.total_hidden:  # the zone's samples and km are the line's total
        # the same vehicles may be active in every bucket: what is known is the busiest one
        assert max(b.min_vehicles for b in withheld_activity) >= k
    withheld_buckets = [b for i, b in enumerate(buckets) if i in view.hidden_bucket_incidents]
    if withheld_buckets and not view.incident_total_hidden:  # the zone's incident count is the line's total
        assert len(set().union(*(b.incident_vehicles for b in withheld_buckets))) >= k
    withheld_cells = [c for key, c in view.grid_cells.items() if key in view.hidden_grid_cells]
    if withheld_cells and not view.incident_total_hidden:
        assert TOTAL not in view.hidden_grid_cells
        assert len(frozenset().union(*(c.vehicles for c in withheld_cells))) >= k


def test_the_grid_has_500_m_cells_from_the_zone_s_south_west_corner() -> None:
    grid = Grid.for_bounds(126.830, 35.140)
    assert grid.cell_of(126.830, 35.140) == (0, 0)
    (west, south), (east, north) = grid.corners((2, 1))
    assert grid.cell_of((west + east) / 2, (south + north) / 2) == (2, 1)
    # 500 m north is 0.0045 degrees of latitude, 500 m east about 0.0055 degrees here
    assert round(north - south, 4) == 0.0045
    assert round(east - west, 4) == 0.0055
