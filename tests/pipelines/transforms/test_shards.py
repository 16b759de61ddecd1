"""Vehicles into shards: a stable key per vehicle, one element per shard per bundle, state per vehicle."""

from __future__ import annotations

import pickle

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.transforms.shards import GatherIntoShards, shard_of
from pilotzone.pipelines.transforms.streaming import ShardVehicles, VehicleState
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import ZonedBatch, assign_zones, vehicle_evaluator
from tests.factories import track


def test_a_vehicles_shard_is_a_stable_hash_of_its_id() -> None:
    # CRC-32 of the UTF-8 id: the same in every process and after a restart.
    assert [shard_of(v, 16) for v in ("veh-a", "veh-b", "veh-c", "veh-d", "veh-e")] == [10, 0, 6, 5, 3]
    assert [shard_of(v, 2) for v in ("veh-a", "veh-b", "veh-c", "veh-d", "veh-e")] == [0, 0, 0, 1, 1]
    assert shard_of("veh-a", 1) == 0


def chunk(zones: list[Zone], vehicle: str, n: int) -> tuple[str, ZonedBatch]:
    return vehicle, assign_zones(zones, TelemetryBatch.from_records(track(n, vehicle_id=vehicle)))


def test_a_bundle_of_vehicle_chunks_becomes_one_element_per_shard(every_kind_zones: list[Zone]) -> None:
    chunks = [
        chunk(every_kind_zones, v, n)
        for v, n in (("veh-a", 2), ("veh-b", 3), ("veh-c", 1), ("veh-d", 4), ("veh-e", 5))
    ]
    with TestPipeline(runner="FnApiRunner") as pipeline:
        shards = (
            pipeline
            | beam.Create([chunks])
            | beam.FlatMap(lambda all_chunks: all_chunks)  # one stage after the Create: one bundle
            | GatherIntoShards(2)
            | beam.MapTuple(
                lambda shard, zoned: (shard, sorted(set(zoned.batch.vehicle_id.tolist())), len(zoned))
            )
        )
        assert_that(shards, equal_to([(0, ["veh-a", "veh-b", "veh-c"], 6), (1, ["veh-d", "veh-e"], 9)]))


def test_shard_state_writes_back_only_the_vehicles_a_call_read(every_kind_zones: list[Zone]) -> None:
    zones = every_kind_zones
    first = ShardVehicles(None, zones)
    for vehicle in ("veh-a", "veh-b"):
        first.add(vehicle, VehicleState(vehicle_evaluator(zones, vehicle, 60), last_fix_ms=7))
    stored = pickle.loads(pickle.dumps(first.stored_with(lambda state: state.last_fix_ms or 0)))
    assert stored.moments == {"veh-a": 7, "veh-b": 7}
    untouched = stored.states["veh-b"]

    second = ShardVehicles(stored, zones)
    state = second.get("veh-a")
    assert state is not None and state.evaluator.zones is zones
    state.last_fix_ms = 9
    assert second.get("veh-z") is None
    assert second.due(7) == ["veh-a", "veh-b"] and second.due(6) == []
    again = second.stored_with(lambda state: state.last_fix_ms or 0)
    assert again.moments == {"veh-a": 9, "veh-b": 7}
    assert again.states["veh-b"] is untouched  # never unpickled, never pickled again
    assert pickle.loads(again.states["veh-a"]).evaluator.zones == []  # written without its zones
    assert len(second) == 2
