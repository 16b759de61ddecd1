"""The stream's per-vehicle state: progress only, the zones stay in the DoFn."""

from __future__ import annotations

import io
import pickle
from typing import Any

import pytest

from pilotzone.pipelines.transforms.streaming import VehicleState
from pilotzone.zones import Zone, load_zones
from pilotzone.zones.evaluate import VehicleEvaluator
from pilotzone.zones.zone import pickled_state
from tests.pipelines.fleets import EVERY_KIND_ZONE


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return load_zones([EVERY_KIND_ZONE])


class _RefusingZones(pickle.Pickler):
    """A pickler that fails on any zone it meets."""

    def persistent_id(self, obj: Any) -> None:
        assert not isinstance(obj, Zone), "a zone was written into per-vehicle state"


def test_state_is_written_without_zones(zones: list[Zone]) -> None:
    state = VehicleState(VehicleEvaluator(zones, "veh-a", 60), frontier_ms=5, last_fix_ms=4)
    _RefusingZones(io.BytesIO()).dump(state.detached())
    # A zone pickles as its compressed state (``zones.zone``): in the live state, not the detached.
    zone_bytes = pickled_state(zones[0])[1]
    assert zone_bytes in pickle.dumps(state)
    assert zone_bytes not in pickle.dumps(state.detached())


def test_detaching_leaves_the_live_state_whole_and_reading_reattaches(zones: list[Zone]) -> None:
    state = VehicleState(VehicleEvaluator(zones, "veh-a", 60), frontier_ms=5, last_fix_ms=4)
    back = pickle.loads(pickle.dumps(state.detached())).attached(zones)
    assert state.evaluator.zones == zones
    assert back.evaluator.zones is zones
    assert (back.frontier_ms, back.last_fix_ms, back.evaluator.vehicle_id) == (5, 4, "veh-a")


def test_evaluators_read_back_from_state_share_one_plan(every_kind_zones: list[Zone]) -> None:
    from pilotzone.zones.evaluate.tables import plan_for

    assert plan_for(tuple(every_kind_zones)) is plan_for(tuple(every_kind_zones))
