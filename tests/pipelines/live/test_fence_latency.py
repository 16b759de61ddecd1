"""The fence-latency benchmark's fleet, schedule and latency maths (no broker, no runner)."""

from __future__ import annotations

import pytest
import shapely

from pilotzone.pipelines.live.fence_fleet import Track, fence_square, fix, vehicle_tracks
from pilotzone.pipelines.live.fence_latency import (
    FenceLatencySettings,
    PublishedFence,
    enforcement_latencies,
    overdue_latencies,
    spread,
)
from pilotzone.pipelines.live.framing import TelemetryEncoder
from pilotzone.zones import SHIPPED_CONFIGS, load_zones

pytestmark = pytest.mark.fences

T0 = 1_775_001_600.0
"""A wall time (s); fences below take effect at T0 + 20 s."""


def published(
    fence_id: str, published_at: float, effective_s: float, exit_within_s: float = 15
) -> PublishedFence:
    return PublishedFence(fence_id, published_at, round(effective_s * 1000), exit_within_s)


def test_the_schedule_alternates_fences_in_force_at_once_and_ahead_and_the_fleet_outlasts_the_deadlines() -> (
    None
):
    settings = FenceLatencySettings(poll_s=1, lateness_s=2, fences=3, exit_within_s=15, ahead_s=10)
    assert settings.schedule() == [(15.0, 15.0), (25.0, 35.0), (35.0, 35.0)]
    # the last deadline (35 + 15) passes the allowed lateness and a poll, with 15 s to spare
    assert settings.duration_s() == 50 + 2 + 1 + 15


def test_parked_vehicles_stand_inside_their_fence_and_drivers_cross_their_fence_inside_the_zone() -> None:
    (zone,) = load_zones([SHIPPED_CONFIGS / "gwangju.yaml"])
    squares = [shapely.geometry.shape(fence_square(i)) for i in range(2)]
    tracks = vehicle_tracks(fences=2, parked_per_fence=2, drivers=3)
    assert sorted(tracks) == [
        "bench-driver-0", "bench-driver-1", "bench-driver-2", "bench-parked-0-0", "bench-parked-0-1",
        "bench-parked-1-0", "bench-parked-1-1",
    ]  # fmt: skip
    for vehicle, track in tracks.items():
        place = shapely.Point(track.lon, track.lat)
        if vehicle.startswith("bench-parked-"):
            fence = int(vehicle.split("-")[2])
            assert track.speed_deg_s == 0 and squares[fence].contains(place)
            assert not squares[1 - fence].contains(place)
        else:
            square = squares[int(vehicle.rsplit("-", 1)[1]) % 2]
            end = track.lon + track.speed_deg_s * 60  # a minute after setting off
            assert (
                track.lon < square.bounds[0] and end > square.bounds[2]
            )  # west of its fence, then east of it
            line = shapely.LineString([(track.lon, track.lat), (end, track.lat)])
            assert line.crosses(square) and zone.boundary.contains(line)


def test_a_driver_waits_until_set_off_then_drives_east_and_every_fix_encodes() -> None:
    track = Track(126.85, 35.145, 0.0001)
    waiting = fix("bench-driver-0", track, 0, 1_000_000, None)
    assert (waiting["current_location_longitude"], waiting["speed"]) == (126.85, 0.0)
    at_set_off = fix("bench-driver-0", track, 1, 1_001_000, 1_001_000)
    assert (at_set_off["current_location_longitude"], at_set_off["speed"]) == (126.85, 0.0)
    later = fix("bench-driver-0", track, 11, 1_011_000, 1_001_000)
    assert later["current_location_longitude"] == pytest.approx(126.851)
    assert later["speed"] == pytest.approx(32.76)
    assert (later["sequence_number"], later["current_location_timestamp"]) == (11, 1_011_000)
    encoder = TelemetryEncoder()
    assert encoder.decode_body(encoder.body(later))["current_location_longitude"] == pytest.approx(126.851)


def test_enforcement_counts_from_publication_or_effective_from_whichever_is_later() -> None:
    fences = [
        published("now", T0 + 20, T0 + 20),
        published("ahead", T0 + 30, T0 + 40),
        published("never", T0, T0),
    ]
    rows = [
        {"status": "RECEIVED", "fence_id": "now", "received_at": "2026-04-01T00:00:20.800Z", "judged_at": None},
        {"status": "ENFORCED", "fence_id": "now", "received_at": "2026-04-01T00:00:20.800Z",
         "first_fix_time": "2026-04-01T00:00:21.000Z", "judged_at": "2026-04-01T00:00:23.500Z"},
        {"status": "ENFORCED", "fence_id": "ahead", "received_at": "2026-04-01T00:00:31.000Z",
         "first_fix_time": "2026-04-01T00:00:40.000Z", "judged_at": "2026-04-01T00:00:43.250Z"},
    ]  # fmt: skip
    assert enforcement_latencies(fences, rows) == [
        {
            "fence_id": "now",
            "ahead_s": 0.0,
            "received_after_s": 0.8,
            "enforced_after_s": 3.5,
            "judged_behind_s": 2.5,
        },
        {
            "fence_id": "ahead",
            "ahead_s": 10.0,
            "received_after_s": 1.0,
            "enforced_after_s": 3.25,
            "judged_behind_s": 3.25,
        },
        {
            "fence_id": "never",
            "ahead_s": 0.0,
            "received_after_s": None,
            "enforced_after_s": None,
            "judged_behind_s": None,
        },
    ]


def test_an_overdue_report_counts_from_the_deadline_in_the_fleets_wall_time() -> None:
    fences = [published("a", T0 + 20, T0 + 20, exit_within_s=15)]  # deadline T0 + 35 s
    opened = {"status": "OPENED", "rule_id": "fence:a", "start_time": "2026-04-01T00:00:35.000Z"}
    arrived = [
        (T0 + 39.5, opened),
        (T0 + 40.0, {**opened, "status": "CLOSED"}),
        (T0 + 41.0, {**opened, "start_time": "2026-04-01T00:00:30.000Z"}),  # an entry, not overdue
        (T0 + 42.0, {**opened, "rule_id": "fence:other"}),
        (T0 + 38.0, {**opened, "rule_id": "speed_limit"}),
    ]
    assert overdue_latencies(fences, arrived, offset_s=0.25) == [{"rule_id": "fence:a", "latency_s": 4.25}]


def test_spread_counts_what_is_missing() -> None:
    assert spread([3.0, None, 1.0, 2.0]) == {"count": 3, "missing": 1, "p50": 2.0, "max": 3.0}
    assert spread([None]) == {"count": 0, "missing": 1, "p50": None, "max": None}
