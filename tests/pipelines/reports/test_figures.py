"""Figures per operator and class, the zone total, the period filter and the time buckets."""

from __future__ import annotations

import pytest

from pilotzone.pipelines.reports.figures import (
    Period,
    bucket_seconds,
    group_figures,
    parse_time,
    run_period,
    time_series,
    zone_incidents,
    zone_rows,
    zone_total,
)
from tests.pipelines.reports.runs import incident, summary

T0 = parse_time("2026-11-23T01:00:00Z")
ROWS = [
    summary(
        0,
        "op-taxi",
        "ROBOTAXI",
        samples=600,
        vehicles=10,
        distance={"AUTONOMOUS": 4000.0, "MANUAL": 1000.0},
        violations={"speed-zone": 59.0},
        incidents={"speed_limit/MINOR": 2},
        disengagements=1,
    ),
    summary(
        1,
        "op-taxi",
        "ROBOTAXI",
        samples=540,
        vehicles=9,
        distance={"AUTONOMOUS": 6000.0},
        incidents={"collision/CRITICAL": 1},
        remote_takeovers=2,
    ),
    summary(
        0,
        "op-robots",
        "DELIVERY_ROBOT",
        samples=300,
        vehicles=5,
        vehicle_seconds=295.0,
        distance={"AUTONOMOUS": 500.0},
    ),
    summary(0, "op-taxi", "ROBOTAXI", zone="elsewhere"),
]


def test_groups_sum_their_windows_and_rates_are_per_1000_autonomous_km() -> None:
    groups = group_figures(zone_rows(ROWS, "test-every-kind", Period(T0, T0 + 3_600_000)))
    assert [(g.operator, g.vehicle_class) for g in groups] == [
        ("op-robots", "DELIVERY_ROBOT"),
        ("op-taxi", "ROBOTAXI"),
    ]
    taxi = groups[1]
    assert taxi.samples == 1140
    assert taxi.km() == 11.0
    assert taxi.km("AUTONOMOUS") == 10.0
    assert taxi.compliance_ratio == pytest.approx(1 - 59 / 1180)
    assert taxi.incidents == {("speed_limit", "MINOR"): 2, ("collision", "CRITICAL"): 1}
    assert taxi.per_1000_autonomous_km(taxi.disengagements) == 100.0
    assert taxi.per_1000_autonomous_km(taxi.remote_takeovers) == 200.0
    assert taxi.min_vehicles == 10


def test_the_zone_total_adds_groups_and_bounds_vehicles_by_the_busiest_window() -> None:
    rows = zone_rows(ROWS, "test-every-kind", Period(T0, T0 + 3_600_000))
    total = zone_total(group_figures(rows), rows)
    assert (total.samples, total.km(), total.incident_count) == (1440, 11.5, 3)
    assert total.min_vehicles == 15  # minute 0: 10 robotaxis + 5 robots


def test_a_window_belongs_to_the_period_it_starts_in() -> None:
    rows = zone_rows(ROWS, "test-every-kind", Period(T0 + 60_000, T0 + 120_000))
    assert [(r["window_start"], r["samples"]) for r in rows] == [("2026-11-23T01:01:00.000Z", 540)]


def test_incidents_are_chosen_by_zone_and_start() -> None:
    rows = [incident(n, minute=n, version="v") for n in (3, 1, 2)]
    chosen = zone_incidents(rows, "test-every-kind", Period(T0 + 60_000, T0 + 180_000))
    assert [row["incident_id"] for row in chosen] == ["inc0001", "inc0002"]


def test_the_run_period_spans_windows_and_incidents() -> None:
    period = run_period(ROWS[:3], [incident(5, minute=7, version="v")])
    assert period == Period(T0, T0 + 7 * 60_000 + 5_000 + 1)
    assert run_period([], []) is None


def test_buckets_are_the_shortest_size_giving_at_most_96_bars() -> None:
    assert bucket_seconds(Period(T0, T0 + 15 * 60_000)) == 60
    assert bucket_seconds(Period(T0, T0 + 3 * 3_600_000)) == 300
    assert bucket_seconds(Period(T0, T0 + 7 * 86_400_000)) == 6 * 3600


def test_time_series_buckets_every_window_and_incident() -> None:
    rows = zone_rows(ROWS, "test-every-kind", Period(T0, T0 + 180_000))
    incidents = [incident(1, minute=1, version="v"), incident(2, minute=1, vehicle="veh-0001", version="v")]
    buckets = time_series(rows, incidents, Period(T0, T0 + 180_000))
    assert [(b.samples, b.km, b.incidents, b.min_vehicles) for b in buckets] == [
        (900, 5.5, 0, 15),
        (540, 6.0, 2, 9),
        (0, 0.0, 0, 0),
    ]
    assert buckets[1].incident_vehicles == {"veh-0001"}


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="--to after --from"):
        Period(T0, T0)


def test_times_without_offset_are_utc() -> None:
    assert parse_time("2026-11-23T10:00+09:00") == T0
    assert parse_time("2026-11-23T01:00") == T0
