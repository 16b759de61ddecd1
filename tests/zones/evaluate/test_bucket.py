"""A bucket of vehicles evaluated at once gives, vehicle by vehicle, what fresh evaluators give.

The reference is the per-vehicle path a replay used before: a ``VehicleEvaluator`` per
vehicle over its whole series, then ``advance`` to the end of input and ``finish``. The
bucket path must give the same records in the same order, the same dead-lettered rows, and
window summaries equal to the per-vehicle partials summed per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.factorize import sorted_codes
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import VehicleEvaluator, ZonedBatch, assign_zones
from pilotzone.zones.evaluate.bucket import SLICE_ROWS, BucketResult, bucket_evaluable, evaluate_sorted_bucket
from pilotzone.zones.evaluate.summaries import WindowSummary, sum_by_key
from tests.factories import T0_MS, sample
from tests.zones.evaluate.test_evaluate import every_kind_zone, tracks, zones
from tests.zones.evaluate.test_history_evaluate import write_history

END_MS = 4_000_000_000_000  # after every sample, as the replay's end of input is


def sorted_bucket(
    records: Sequence[dict[str, Any]], zone_list: Sequence[Zone]
) -> tuple[ZonedBatch, list[str], list[int]]:
    """The records as a replay's bucket: sorted by (vehicle, time, sequence number), zoned."""
    batch = TelemetryBatch.from_records(list(records))
    vehicles, codes = sorted_codes(batch.vehicle_id)
    order = np.lexsort((batch.sequence_number, batch.time_ms, codes))
    batch, codes = batch.take(order), codes[order]
    starts = [0, *(np.flatnonzero(np.diff(codes)) + 1).tolist()]
    return assign_zones(zone_list, batch), vehicles, starts


def assert_bucket_matches_each_vehicle(
    zone_list: Sequence[Zone],
    records: Sequence[dict[str, Any]],
    window_s: int = 60,
    slice_rows: int = SLICE_ROWS,
) -> BucketResult:
    zoned, vehicles, starts = sorted_bucket(records, zone_list)
    result = evaluate_sorted_bucket(
        zone_list, zoned, vehicles, starts, window_s, end_of_input_ms=END_MS, slice_rows=slice_rows
    )
    ends = [*starts[1:], len(zoned)]
    assert [(v.vehicle_id, v.start, v.end) for v in result.vehicles] == list(
        zip(vehicles, starts, ends, strict=True)
    )
    partials: list[WindowSummary] = []
    for got, start, end in zip(result.vehicles, starts, ends, strict=True):
        evaluator = VehicleEvaluator(zone_list, got.vehicle_id, window_s)
        processed = evaluator.process(zoned.span(start, end))
        advanced = evaluator.advance(END_MS)
        finished = evaluator.finish()
        assert got.processed.incidents == processed.incidents, got.vehicle_id
        assert (got.processed.duplicates - start).tolist() == processed.duplicates.tolist()
        assert (got.processed.unplaced - start).tolist() == processed.unplaced.tolist()
        assert got.ended == advanced.incidents + finished.incidents, got.vehicle_id
        partials += processed.summaries + advanced.summaries + finished.summaries
    assert result.summaries == sum_by_key(partials)
    return result


DUPLICATE_CHOICES = st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from([0, 1000, 400_000])), max_size=4
)


@st.composite
def fleets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few random vehicles (``test_evaluate.tracks``), some re-sending samples."""
    names = draw(
        st.lists(
            st.sampled_from(["veh-b", "veh-a", "veh-c2", "veh-c10", "x"]), min_size=1, max_size=5, unique=True
        )
    )
    records: list[dict[str, Any]] = []
    for name in names:
        track = [{**r, "vehicle_id": name} for r in draw(tracks())]
        # Re-sent samples: exact copies, and the same sequence number later (beyond the
        # duplicate horizon it is a new sample).
        for index, shift_ms in draw(DUPLICATE_CHOICES):
            original = track[index % len(track)]
            copy = {
                **original,
                "current_location_timestamp": original["current_location_timestamp"] + shift_ms,
            }
            track.append(copy)
        records += track
    return records


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(fleets(), st.sampled_from([60, 60, 7]), st.sampled_from([SLICE_ROWS, 1, 100]))
def test_bucket_equals_each_vehicle_on_random_fleets(
    records: list[dict[str, Any]], window_s: int, slice_rows: int
) -> None:
    assert_bucket_matches_each_vehicle(zones(), records, window_s, slice_rows)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(fleets())
def test_bucket_equals_each_vehicle_quick(records: list[dict[str, Any]]) -> None:
    assert_bucket_matches_each_vehicle(zones(), records)


def lost_vehicle(count: int) -> list[dict[str, Any]]:
    """``count`` samples of a vehicle of no zone's operator at 0 N 0 E: outside every zone."""
    return [
        sample(
            vehicle_id="veh-lost",
            operator_id="op-nobody",
            sequence_number=i,
            current_location_longitude=0.0,
            current_location_latitude=0.0,
            current_location_timestamp=T0_MS + 1000 * i,
        )
        for i in range(count)
    ]


def loop_fleet(vehicles: int) -> list[dict[str, Any]]:
    """Vehicles driving a loop through the simulator's zone, each starting later: every kind
    of incident, a gap, events, a vehicle class without a permit."""
    rng = np.random.default_rng(11)
    n = 700
    angle = np.linspace(0, 2 * np.pi, n)
    lon = 126.852 + 0.025 * np.cos(angle)
    lat = 35.1575 + 0.005 * np.sin(angle)
    records = []
    for k in range(vehicles):
        speed = np.clip(45 + 15 * np.sin(angle * 9) + rng.normal(0, 3, n), 0, None)
        speed[300 + 10 * k : 460] = 0.3
        for i in range(n):
            records.append(
                sample(
                    vehicle_id=f"veh-{k}",
                    operator_id="op-taxi",
                    vehicle_class=["ROBOTAXI", "CAR", "BUS"][k % 3],
                    sequence_number=i,
                    current_location_timestamp=T0_MS + 7_000 * k + 1000 * i + (20_000 if i > 600 else 0),
                    current_location_longitude=float(lon[(i + 40 * k) % n]),
                    current_location_latitude=float(lat[(i + 40 * k) % n]),
                    speed=float(speed[i]),
                    events=[{"kind": "DISENGAGEMENT", "initiated_by": "SYSTEM"}] if i % 150 == k else [],
                )
            )
    return records


@pytest.mark.parametrize("slice_rows", [SLICE_ROWS, 1500], ids=["one slice", "two vehicles a slice"])
def test_bucket_equals_each_vehicle_in_the_simulators_zone(slice_rows: int) -> None:
    result = assert_bucket_matches_each_vehicle([every_kind_zone()], loop_fleet(4), slice_rows=slice_rows)
    kinds = {r.kind for v in result.vehicles for r in v.processed.incidents + v.ended}
    assert kinds == {
        "speed_limit",
        "leave_boundary",
        "restricted_area",
        "driving_mode",
        "dwell",
        "telemetry_gap",
        "vehicle_event",
        "permit",
    }


def test_unplaced_vehicles_and_duplicates_are_returned_as_bucket_rows() -> None:
    lost = lost_vehicle(3)
    placed = [
        sample(
            vehicle_id="veh-here",
            operator_id="op-taxi",
            sequence_number=i,
            current_location_timestamp=T0_MS + 1000 * i,
        )
        for i in (0, 1, 1, 2)
    ]
    result = assert_bucket_matches_each_vehicle([every_kind_zone()], lost + placed)
    here, gone = result.vehicles
    assert (here.vehicle_id, here.processed.duplicates.tolist(), here.processed.unplaced.tolist()) == (
        "veh-here",
        [2],
        [],
    )
    assert (gone.vehicle_id, gone.processed.duplicates.tolist(), gone.processed.unplaced.tolist()) == (
        "veh-lost",
        [],
        [4, 5, 6],
    )
    assert gone.processed.incidents == gone.ended == []


def test_a_config_history_with_changes_is_evaluated_per_vehicle(tmp_path: Path) -> None:
    history = write_history(tmp_path)
    assert (bucket_evaluable(zones()), bucket_evaluable(history)) == (True, False)
    zoned, vehicles, starts = sorted_bucket(loop_fleet(1), history)
    with pytest.raises(ValueError, match="per vehicle"):
        evaluate_sorted_bucket(history, zoned, vehicles, starts, 60, end_of_input_ms=END_MS)
