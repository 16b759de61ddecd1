"""A replay bucket's outputs: evaluated by bucket, the same as vehicle by vehicle.

``evaluate_sorted_series`` evaluates a whole bucket at once (``zones.evaluate.bucket``);
``evaluate_each_vehicle`` is the per-vehicle reference. After the bucket's summaries are
summed per key (``summed_in_bucket``, as both replay DoFns do), every output -- incidents,
dead letters, fence records and observations, summaries -- is the same, in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pilotzone.pipelines.transforms.buckets import summed_in_bucket
from pilotzone.pipelines.transforms.emit import FENCE_OBSERVATIONS, SUMMARIES
from pilotzone.pipelines.transforms.series import (
    evaluate_each_vehicle,
    evaluate_sorted_series,
    vehicle_time_order,
)
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.factorize import sorted_codes
from pilotzone.zones.fences import Fence
from pilotzone.zones.fences.loader import load_fence
from tests.factories import T0_MS, sample
from tests.pipelines.jobs.test_fence_replay import write_west_fence
from tests.zones.evaluate.test_bucket import loop_fleet, lost_vehicle, sorted_bucket
from tests.zones.evaluate.test_evaluate import every_kind_zone


def plain(outputs: Iterable[Any]) -> list[Any]:
    """Tagged outputs as (tag, value), so that lists of outputs compare by value."""
    return [(output.tag, output.value) if hasattr(output, "tag") else output for output in outputs]


@pytest.mark.parametrize("with_fence", [False, True], ids=["no fences", "a fence"])
def test_bucket_outputs_equal_each_vehicles(tmp_path: Path, with_fence: bool) -> None:
    zones = [every_kind_zone()]
    fences: list[Fence] = [load_fence(write_west_fence(tmp_path))] if with_fence else []
    lost = lost_vehicle(3)
    records = loop_fleet(3) + lost
    records.append(dict(records[5]))  # a duplicate
    zoned, vehicles, starts = sorted_bucket(records, zones)
    by_bucket = plain(
        summed_in_bucket(evaluate_sorted_series(zones, zoned, vehicles, starts, 60, fences=fences))
    )
    each = plain(summed_in_bucket(evaluate_each_vehicle(zones, zoned, vehicles, starts, 60, fences=fences)))
    assert by_bucket == each
    tags = Counter(output[0] if isinstance(output, tuple) else "incident" for output in by_bucket)
    assert tags["dead_letter"] == 4  # the duplicate and the three unplaced samples
    assert (tags[FENCE_OBSERVATIONS] > 0) == with_fence
    assert tags[SUMMARIES] > 0 and tags["incident"] > 0


@pytest.mark.parametrize("tied", [False, True], ids=["distinct times", "a vehicle's samples share a time"])
def test_vehicle_time_order_is_lexsorts(tied: bool) -> None:
    rng = np.random.default_rng(3)
    n = 500
    times = rng.choice(10**6, size=n, replace=False) + T0_MS
    if tied:
        times[10:20] = times[0]
    records = [
        sample(
            vehicle_id=f"veh-{rng.integers(7)}",
            sequence_number=int(rng.integers(50)),
            current_location_timestamp=int(t),
        )
        for t in times
    ]
    batch = TelemetryBatch.from_records(records)
    _, codes = sorted_codes(batch.vehicle_id)
    expected = np.lexsort((batch.sequence_number, batch.time_ms, codes))
    assert vehicle_time_order(codes, batch).tolist() == expected.tolist()
