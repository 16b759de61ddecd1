"""Vehicles gathered into a fixed number of shards, so the stream's stateful step runs per shard.

At 1 Hz a vehicle has about one sample in any bundle, so a stateful step keyed by vehicle is
called (and its state read and written, over the runner's state API) once per sample, and its
timers fire once per vehicle per second. Keyed by shard, a bundle's samples reach the stateful
step as one element per shard, and one timer firing evaluates every vehicle of the shard that
is due. The shard of a vehicle is a stable hash of its id: the same on every worker and
after a restart, so a vehicle's state always lives under one key.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pilotzone.zones.evaluate import ZonedBatch


def shard_of(vehicle: str, shards: int) -> int:
    """The shard (0 .. shards - 1) whose state holds ``vehicle``."""
    return zlib.crc32(vehicle.encode("utf-8")) % shards


class _ShardBundleFn(beam.DoFn):
    """A bundle's (vehicle, ZonedBatch) chunks → one (shard, ZonedBatch) per shard and window."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.chunks: dict[tuple[Any, int], list[ZonedBatch]] = {}
        self.stamps: dict[tuple[Any, int], Timestamp] = {}

    def start_bundle(self) -> None:
        self.chunks, self.stamps = {}, {}

    def process(
        self,
        element: tuple[str, ZonedBatch],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        vehicle, zoned = element
        key = (window, shard_of(vehicle, self.shards))
        self.chunks.setdefault(key, []).append(zoned)
        # The earliest chunk's timestamp: the shard's element holds the watermark no later
        # than any of its chunks would have.
        self.stamps[key] = min(self.stamps.get(key, timestamp), timestamp)
        return iter(())

    def finish_bundle(self) -> Iterator[Any]:
        for (window, shard), chunks in self.chunks.items():
            merged = chunks[0] if len(chunks) == 1 else ZonedBatch.concat(chunks)
            yield WindowedValue((shard, merged), self.stamps[(window, shard)], (window,))
        self.chunks, self.stamps = {}, {}


class GatherIntoShards(beam.PTransform):
    """(vehicle, ZonedBatch) → (shard, ZonedBatch of that shard's vehicles), one per shard per bundle."""

    def __init__(self, shards: int) -> None:
        super().__init__()
        if shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        self.shards = shards

    def expand(self, zoned: beam.PCollection) -> beam.PCollection:
        gather = beam.ParDo(_ShardBundleFn(self.shards)).with_output_types(tuple[int, ZonedBatch])
        return zoned | "GatherPerBundle" >> gather
