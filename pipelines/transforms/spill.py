"""Grouping by vehicle on disk, so a replay's memory does not grow with its input.

The batch runner's GroupByKey keeps every grouped sample in memory until the group is read:
a replay of 36 million samples would hold all of them at once. A spilled replay groups the
same way, through files instead:

1. ``SpillByVehicle`` writes each decoded chunk (``TelemetryBatch.to_bytes``) to one of
   ``buckets`` spill files chosen by a stable hash of its vehicle id, and passes on only the
   files' names.
2. A GroupByKey of those names (a few per bucket) waits until every chunk is written.
3. ``EvaluateSpilledBuckets`` reads one bucket at a time, gathers each of its vehicles'
   chunks in the order they were written, and evaluates every vehicle's whole series exactly
   as the in-memory replay does (time order, zones, ``VehicleEvaluator``, same outputs).

Every vehicle lands in exactly one bucket, so each series is whole and nothing is carried
between buckets: incidents, summaries and dead letters are byte-identical to the in-memory
replay's, by construction rather than by a merge. Memory holds one bucket (about
``1 / buckets`` of the input) plus what the sinks gather; the disk holds the encoded
telemetry once (about 80 bytes a sample), in a directory the caller creates and removes.

This is a way to run the bounded replay on one machine's runner; a distributed runner has a
shuffle that spills on its own and should use the ordinary GroupByKey path.
"""

from __future__ import annotations

import struct
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pilotzone.pipelines.transforms.emit import with_evaluation_outputs
from pilotzone.pipelines.transforms.series import batch_in_time_order, evaluate_series
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import assign_zones

_FRAME = struct.Struct("<II")
"""Each spilled chunk: vehicle id length and batch length, then the two byte strings."""

FLUSH_BYTES = 8 * 1024 * 1024
"""The buffers of a bundle are appended to their files when together they reach this size.

A bound on all buckets together, not on each: with one buffer of this size per bucket, a
replay of 36M samples on two workers (74 buckets) buffered up to 600 MB per worker."""


@dataclass(frozen=True)
class SpillPlan:
    """Where the spill files go and how many buckets the vehicles are spread over."""

    directory: str
    buckets: int


def vehicle_bucket(vehicle: str, buckets: int) -> int:
    """The bucket of a vehicle: stable across processes and runs (unlike ``hash``)."""
    return zlib.crc32(vehicle.encode("utf-8")) % buckets


class BucketFilesFn(beam.DoFn):
    """Append frames to per-bucket files; at the end of a bundle, name the files written.

    One file per bucket and bundle: a retried bundle writes new files, and only the names of a
    committed bundle's files reach the evaluation. Names start with the bundle's start time,
    so files sort in the order one worker wrote them. Subclasses frame their elements and name
    the files' ``suffix``.
    """

    suffix = ""

    def __init__(self, plan: SpillPlan) -> None:
        self.plan = plan
        self.buffers: dict[int, list[bytes]] = {}
        self.sizes: dict[int, int] = {}
        self.files: dict[int, Path] = {}
        self.bundle = ""

    def start_bundle(self) -> None:
        self.bundle = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        self.buffers, self.sizes, self.files = {}, {}, {}

    def append(self, bucket: int, parts: list[bytes]) -> None:
        """Buffer ``parts`` for ``bucket``; write every buffer out once together they are large."""
        self.buffers.setdefault(bucket, []).extend(parts)
        self.sizes[bucket] = self.sizes.get(bucket, 0) + sum(map(len, parts))
        if sum(self.sizes.values()) >= FLUSH_BYTES:
            for full in list(self.buffers):
                self._flush(full)

    def finish_bundle(self) -> Iterator[Any]:
        for bucket in list(self.buffers):
            self._flush(bucket)
        for bucket, path in sorted(self.files.items()):
            yield GlobalWindows.windowed_value((bucket, str(path)))

    def _flush(self, bucket: int) -> None:
        parts = self.buffers.pop(bucket, [])
        self.sizes.pop(bucket, None)
        if not parts:
            return
        path = self.files.get(bucket)
        if path is None:
            folder = Path(self.plan.directory) / f"bucket-{bucket:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = self.files[bucket] = folder / f"{self.bundle}{self.suffix}"
        with path.open("ab") as stream:
            stream.write(b"".join(parts))


class SpillFn(BucketFilesFn):
    """Append (vehicle, chunk) pairs to the files of the vehicle's bucket."""

    suffix = ".chunks"

    def process(self, element: tuple[str, TelemetryBatch]) -> None:
        vehicle, batch = element
        key = vehicle.encode("utf-8")
        data = batch.to_bytes()
        self.append(
            vehicle_bucket(vehicle, self.plan.buckets), [_FRAME.pack(len(key), len(data)) + key, data]
        )


def read_spill_file(path: str) -> Iterator[tuple[str, TelemetryBatch]]:
    """The (vehicle, chunk) pairs of one spill file, in the order they were written."""
    data = Path(path).read_bytes()
    position = 0
    while position < len(data):
        key_length, batch_length = _FRAME.unpack_from(data, position)
        position += _FRAME.size
        vehicle = data[position : position + key_length].decode("utf-8")
        position += key_length
        yield vehicle, TelemetryBatch.from_bytes(data[position : position + batch_length])
        position += batch_length


@beam.typehints.with_input_types(tuple[str, TelemetryBatch])
class SpillByVehicle(beam.PTransform):
    """(vehicle, TelemetryBatch) chunks → (bucket, [spill files]) once all chunks are written."""

    def __init__(self, plan: SpillPlan) -> None:
        super().__init__()
        self.plan = plan

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        return chunks | "Spill" >> beam.ParDo(SpillFn(self.plan)) | "FilesByBucket" >> beam.GroupByKey()


class EvaluateBucketFn(beam.DoFn):
    """Evaluate every vehicle of one bucket, each as one whole time-ordered series."""

    def __init__(self, zones: Sequence[Zone], window_s: int) -> None:
        self.zones = list(zones)
        self.window_s = window_s

    def process(self, element: tuple[int, Iterable[str]]) -> Iterator[Any]:
        _, paths = element
        chunks: dict[str, list[TelemetryBatch]] = {}
        # Files in name order, chunks in file order: a vehicle's chunks keep the order in
        # which one writer saw them, as a GroupByKey on this runner would keep it.
        for path in sorted(paths):
            for vehicle, batch in read_spill_file(path):
                chunks.setdefault(vehicle, []).append(batch)
        for vehicle in sorted(chunks):
            series = batch_in_time_order(chunks.pop(vehicle))
            yield from evaluate_series(self.zones, vehicle, assign_zones(self.zones, series), self.window_s)


class EvaluateSpilledBuckets(beam.PTransform):
    """(bucket, [spill files]) → incidents, plus ``summaries`` and ``dead_letter`` outputs,
    the same as ``GroupByVehicle | AssignZones | EvaluateSeries``."""

    def __init__(self, zones: Sequence[Zone], window_s: int) -> None:
        super().__init__()
        self.zones = list(zones)
        self.window_s = window_s

    def expand(self, buckets: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return buckets | "EvaluateBuckets" >> with_evaluation_outputs(
            beam.ParDo(EvaluateBucketFn(self.zones, self.window_s))
        )


def spill_files(directory: str) -> Iterable[Path]:
    """Every spill file under ``directory`` (for tests and clean-up checks)."""
    return sorted(Path(directory).glob("bucket-*/*.chunks"))
