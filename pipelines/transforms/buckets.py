"""Evaluating a replay by vehicle bucket: sorted once by vehicle and time, sliced per vehicle.

``DecodeTelemetryGroups`` hands out (vehicle bucket, ``GroupChunk``) elements, a few per group
of files. A bucket's chunks are joined in group order (so rows are in file order), sorted once
by (vehicle, event time, sequence number) -- a stable sort, so exact ties keep file order as
the per-file replay kept them -- placed in zones with one geometry call, and cut into each
vehicle's whole series for ``evaluate_series``: the same series, in the same order, as
``GroupByVehicle`` builds, hence the same outputs.

Two ways to gather a bucket, as for the per-file replay:

* ``ReplayGroupsInMemory``: a GroupByKey of the chunks (the runner holds them in memory), or,
  on a runner whose workers are this process, of tokens while the chunks stay in the process
  (``pilotzone.pipelines.transforms.handoff``).
* ``ReplayGroupsSpilled``: each chunk is appended to its bucket's spill files on disk
  (``pilotzone.pipelines.transforms.spill`` explains why), only the files' names are grouped,
  and one bucket at a time is read back, so memory holds about ``1 / buckets`` of the input.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import numpy.typing as npt

from pilotzone.pipelines.transforms.aggregate import SummarizeWindows
from pilotzone.pipelines.transforms.compliance import ComplianceResults
from pilotzone.pipelines.transforms.decode import DEAD_LETTER
from pilotzone.pipelines.transforms.emit import FENCE_OBSERVATIONS, SUMMARIES, with_evaluation_outputs
from pilotzone.pipelines.transforms.gaps import confirmed_outputs, latest_sample_ms, max_gaps_ms
from pilotzone.pipelines.transforms.handoff import InProcessHandoff
from pilotzone.pipelines.transforms.read_many import DecodeTelemetryGroups, GroupChunk
from pilotzone.pipelines.transforms.series import evaluate_sorted_series, vehicle_time_order
from pilotzone.pipelines.transforms.spill import BucketFilesFn, SpillPlan
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.factorize import sorted_codes
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import WindowSummary, assign_zones
from pilotzone.zones.evaluate.summaries import sum_by_key
from pilotzone.zones.fences import Fence

IN_MEMORY_BUCKETS = 16
"""Vehicle buckets of an in-memory replay: enough to spread over the workers, few enough
that every element is large."""

_FRAME = struct.Struct("<QI")
"""Each spilled chunk: its group's position and the batch's length, then the batch."""


def evaluate_bucket(
    zones: Sequence[Zone], chunks: Iterable[GroupChunk], window_s: int, fences: Sequence[Fence] = ()
) -> Iterator[Any]:
    """The evaluation outputs of every vehicle in a bucket's chunks, vehicle by vehicle, then
    the bucket's window summaries summed per key (``evaluate_sorted_series``)."""
    parts = sorted(chunks, key=lambda chunk: chunk.group)
    if not parts:
        return
    batch = parts[0].batch if len(parts) == 1 else TelemetryBatch.concat([part.batch for part in parts])
    vehicles, codes = sorted_codes(batch.vehicle_id)
    order = vehicle_time_order(codes, batch)
    if not bool((order == np.arange(len(order))).all()):
        batch = batch.take(order)
        codes = codes[order]
    zoned = assign_zones(zones, batch)
    starts = [0, *(np.flatnonzero(np.diff(codes)) + 1).tolist()]
    yield from evaluate_sorted_series(zones, zoned, vehicles, starts, window_s, fences=fences)


def summed_in_bucket(outputs: Iterable[Any]) -> Iterator[Any]:
    """A bucket's evaluation outputs with its window-summary partials summed per key, at the end.

    Each vehicle emits a partial per window it drove in: 600,000 for 10,000 vehicles in an
    hour, which the runner's own process otherwise gathers before merging them (1.1 GB of the
    36M-sample replay), and which Beam's merge would add pairwise. Summing a bucket's partials
    first, with the partials' own exact, associative sum (``sum_by_key``), sends one per key
    and bucket through the shuffle, and the merged totals are the same. Incidents and dead
    letters pass through unchanged, in their order.
    """
    partials: list[WindowSummary] = []
    for output in outputs:
        if isinstance(output, beam.pvalue.TaggedOutput) and output.tag == SUMMARIES:
            partials.append(output.value)
        else:
            yield output
    for summary in sum_by_key(partials):
        yield beam.pvalue.TaggedOutput(SUMMARIES, summary)


class _EvaluateBucketFn(beam.DoFn):
    """What both ways of gathering a bucket share: zones, window, fences, and the gap
    confirmation against the input's horizon (a side input), applied to a bucket's outputs
    before its partials are summed (``gaps.confirmed_outputs``)."""

    def __init__(self, zones: Sequence[Zone], window_s: int, fences: Sequence[Fence] = ()) -> None:
        self.zones = list(zones)
        self.window_s = window_s
        self.fences = list(fences)
        self.max_gap_ms = max_gaps_ms(self.zones)

    def evaluated(self, chunks: Iterable[GroupChunk], horizon_ms: int) -> Iterator[Any]:
        outputs = evaluate_bucket(self.zones, chunks, self.window_s, self.fences)
        return summed_in_bucket(confirmed_outputs(outputs, horizon_ms, self.max_gap_ms, self.window_s * 1000))


class EvaluateBucketChunksFn(_EvaluateBucketFn):
    """(bucket, its chunks), the input's horizon → the evaluation outputs of every vehicle in it."""

    def process(self, element: tuple[int, Iterable[GroupChunk]], horizon_ms: int) -> Iterator[Any]:
        _, chunks = element
        yield from self.evaluated(chunks, horizon_ms)


class EvaluateHandedOffChunksFn(_EvaluateBucketFn):
    """(bucket, tokens of its parked chunks), the input's horizon → the evaluation outputs of
    every vehicle in it (``handoff``: the chunks stayed in this process)."""

    def __init__(
        self, zones: Sequence[Zone], window_s: int, handoff: InProcessHandoff, fences: Sequence[Fence] = ()
    ) -> None:
        super().__init__(zones, window_s, fences)
        self.handoff = handoff

    def process(self, element: tuple[int, Iterable[int]], horizon_ms: int) -> Iterator[Any]:
        _, tokens = element
        chunks = [self.handoff.take(token) for token in tokens]
        yield from self.evaluated(chunks, horizon_ms)


def _parked(element: tuple[int, GroupChunk], handoff: InProcessHandoff) -> tuple[int, int]:
    bucket, chunk = element
    batch = chunk.batch
    shared = dataclasses.replace(
        batch, vehicle_id=shared_strings(batch.vehicle_id), operator_id=shared_strings(batch.operator_id)
    )
    return bucket, handoff.park(GroupChunk(chunk.group, shared))


def shared_strings(column: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """An id column whose equal values are one ``str`` object each.

    A decoder may make one ``str`` per row (~55 bytes each, two id columns): a parked chunk
    would then hold more than twice the ~85 bytes a sample its encoded form held in the
    runner's grouping buffer, which decodes into one object per distinct id
    (``TelemetryBatch.from_bytes``). Ids come in runs, so only each run's first value is
    looked up.
    """
    size = len(column)
    if size < 2:
        return column
    starts = np.concatenate([[0], np.flatnonzero(column[1:] != column[:-1]) + 1])
    canonical: dict[str, str] = {}
    runs = np.empty(len(starts), dtype=object)
    runs[:] = [canonical.setdefault(value, value) for value in column[starts].tolist()]
    shared: npt.NDArray[np.object_] = np.repeat(runs, np.diff(np.append(starts, size)))
    return shared


class SpillChunksFn(BucketFilesFn):
    """Append (group, chunk) frames to the files of their vehicle bucket."""

    suffix = ".groups"

    def process(self, element: tuple[int, GroupChunk]) -> None:
        bucket, chunk = element
        data = chunk.batch.to_bytes()
        self.append(bucket, [_FRAME.pack(chunk.group, len(data)) + data])


def read_chunk_file(path: str) -> Iterator[GroupChunk]:
    """The chunks of one spill file, in the order they were written."""
    data = Path(path).read_bytes()
    position = 0
    while position < len(data):
        group, length = _FRAME.unpack_from(data, position)
        position += _FRAME.size
        yield GroupChunk(group, TelemetryBatch.from_bytes(data[position : position + length]))
        position += length


class EvaluateSpilledChunksFn(_EvaluateBucketFn):
    """(bucket, [spill files]), the input's horizon → the evaluation outputs of every vehicle in
    that bucket."""

    def process(self, element: tuple[int, Iterable[str]], horizon_ms: int) -> Iterator[Any]:
        _, paths = element
        chunks = [chunk for path in sorted(paths) for chunk in read_chunk_file(path)]
        yield from self.evaluated(chunks, horizon_ms)


def _horizon(chunks: beam.PCollection) -> beam.PCollection:
    return (
        chunks
        | "LatestSample" >> beam.MapTuple(lambda _, chunk: latest_sample_ms(chunk.batch))
        | "Horizon" >> beam.CombineGlobally(max).without_defaults()
    )


class _ReplayGroups(beam.PTransform):
    """(group, [paths]) → ``ComplianceResults``; subclasses say how a bucket is gathered."""

    def __init__(
        self,
        zones: Sequence[Zone],
        window_s: int,
        buckets: int,
        progress: bool,
        digests: str | None,
        *,
        fences: Sequence[Fence] = (),
    ) -> None:
        super().__init__()
        self.fences = list(fences)
        self.zones = list(zones)
        self.window_s = window_s
        self.buckets = buckets
        self.progress = progress
        self.digests = digests

    def gather_and_evaluate(
        self, chunks: beam.PCollection, horizon: beam.pvalue.AsSingleton
    ) -> beam.pvalue.DoOutputsTuple:
        raise NotImplementedError

    def expand(self, groups: beam.PCollection) -> ComplianceResults:
        decoded = groups | "DecodeTelemetry" >> DecodeTelemetryGroups(
            self.buckets, self.progress, self.digests
        )
        chunks = decoded.chunks | "AsChunks" >> beam.Map(lambda chunk: chunk).with_output_types(
            tuple[int, GroupChunk]
        )
        # A bucket is evaluated after all input is read, so its step can confirm the gaps itself
        # (``gaps.confirmed_outputs``, what ``ConfirmAndSummarize`` does as steps of their own):
        # the partials then go straight into the merge, summed per bucket, without another
        # pass through the runner.
        evaluated = self.gather_and_evaluate(chunks, beam.pvalue.AsSingleton(_horizon(chunks)))
        incidents = evaluated.incidents
        summaries = evaluated[SUMMARIES] | "SummarizeWindows" >> SummarizeWindows()
        dead_letters = (decoded[DEAD_LETTER], evaluated[DEAD_LETTER]) | "AllDeadLetters" >> beam.Flatten()
        observations = evaluated[FENCE_OBSERVATIONS] if self.fences else None
        return ComplianceResults(incidents, summaries, dead_letters, observations)


class ReplayGroupsInMemory(_ReplayGroups):
    """Groups of files → ``ComplianceResults``, each vehicle bucket gathered by a GroupByKey.

    ``digests``: a folder for the digests of the files decoded (``pipelines.digests``).
    ``handoff``: on a runner whose workers are this process (``handoff.runs_in_this_process``),
    the chunks stay in the process and only their tokens are grouped; the caller discards the
    handoff after the run."""

    def __init__(
        self,
        zones: Sequence[Zone],
        window_s: int,
        progress: bool = False,
        digests: str | None = None,
        *,
        fences: Sequence[Fence] = (),
        handoff: InProcessHandoff | None = None,
    ) -> None:
        super().__init__(zones, window_s, IN_MEMORY_BUCKETS, progress, digests, fences=fences)
        self.handoff = handoff

    def gather_and_evaluate(
        self, chunks: beam.PCollection, horizon: beam.pvalue.AsSingleton
    ) -> beam.pvalue.DoOutputsTuple:
        if self.handoff is not None:
            evaluate = EvaluateHandedOffChunksFn(self.zones, self.window_s, self.handoff, self.fences)
            return (
                chunks
                | "Park" >> beam.Map(_parked, self.handoff).with_output_types(tuple[int, int])
                | "GroupByBucket" >> beam.GroupByKey()
                | "EvaluateRules" >> with_evaluation_outputs(beam.ParDo(evaluate, horizon))
            )
        return (
            chunks
            | "GroupByBucket" >> beam.GroupByKey()
            | "EvaluateRules"
            >> with_evaluation_outputs(
                beam.ParDo(EvaluateBucketChunksFn(self.zones, self.window_s, self.fences), horizon)
            )
        )


class ReplayGroupsSpilled(_ReplayGroups):
    """Groups of files → ``ComplianceResults``, each vehicle bucket gathered on disk."""

    def __init__(
        self,
        zones: Sequence[Zone],
        window_s: int,
        plan: SpillPlan,
        progress: bool = False,
        digests: str | None = None,
        *,
        fences: Sequence[Fence] = (),
    ) -> None:
        super().__init__(zones, window_s, plan.buckets, progress, digests, fences=fences)
        self.plan = plan

    def gather_and_evaluate(
        self, chunks: beam.PCollection, horizon: beam.pvalue.AsSingleton
    ) -> beam.pvalue.DoOutputsTuple:
        return (
            chunks
            | "Spill" >> beam.ParDo(SpillChunksFn(self.plan))
            | "FilesByBucket" >> beam.GroupByKey()
            | "EvaluateRules"
            >> with_evaluation_outputs(
                beam.ParDo(EvaluateSpilledChunksFn(self.zones, self.window_s, self.fences), horizon)
            )
        )
