"""Replay: each vehicle's whole series evaluated in one call.

A bounded input can be grouped by vehicle before evaluation: each vehicle's chunks are
sorted by event time and handed to a fresh ``VehicleEvaluator`` at once. One evaluator call
per vehicle keeps the stateful part off the per-sample path (a stateful DoFn per sample would
cap throughput at ~5k/s). The spilled replay (``spill``) evaluates its buckets with the same
``evaluate_series``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import numpy.typing as npt
from apache_beam.metrics import Metrics

from pilotzone.pipelines.transforms.coders import TelemetryBatchCoder  # noqa: F401  (registers the coder)
from pilotzone.pipelines.transforms.decode import METRICS_NAMESPACE
from pilotzone.pipelines.transforms.emit import (
    END_OF_INPUT_MS,
    FENCE_OBSERVATIONS,
    SUMMARIES,
    dead_rows,
    emit_evaluation,
    with_evaluation_outputs,
)
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import EvaluationOutput, ZonedBatch, assign_zones, vehicle_evaluator
from pilotzone.zones.evaluate.bucket import bucket_evaluable, evaluate_sorted_bucket
from pilotzone.zones.fences import Fence
from pilotzone.zones.fences.tracker import judge_series


def in_time_order(chunks: Iterable[ZonedBatch]) -> ZonedBatch:
    """One vehicle's chunks as one batch sorted by (event time, sequence number)."""
    merged = ZonedBatch.concat(list(chunks))
    order = np.lexsort((merged.batch.sequence_number, merged.batch.time_ms))
    return merged.take(order)


def vehicle_time_order(codes: npt.NDArray[np.int64], batch: TelemetryBatch) -> npt.NDArray[np.intp]:
    """The stable order of rows by (vehicle code, event time, sequence number).

    ``np.lexsort`` of the three keys, done as one stable sort of a combined vehicle-and-time
    key when no two rows of a vehicle share a time (the sort then never looks at sequence
    numbers) and the key fits in 63 bits.
    """
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    t = batch.time_ms - batch.time_ms.min()
    span = int(t.max()) + 1
    if (int(codes.max()) + 1) * span < 2**62:
        combined = codes * span + t
        order = np.argsort(combined, kind="stable")
        ordered = combined[order]
        if not bool((ordered[1:] == ordered[:-1]).any()):
            return order
    return np.lexsort((batch.sequence_number, batch.time_ms, codes))


def batch_in_time_order(chunks: Iterable[TelemetryBatch]) -> TelemetryBatch:
    """``in_time_order`` for chunks not yet placed in zones: the same rows in the same order."""
    parts = list(chunks)
    merged = parts[0] if len(parts) == 1 else TelemetryBatch.concat(parts)
    order = np.lexsort((merged.sequence_number, merged.time_ms))
    if bool((order == np.arange(len(order))).all()):
        return merged
    return merged.take(order)


@beam.typehints.with_input_types(tuple[str, TelemetryBatch])
@beam.typehints.with_output_types(tuple[str, ZonedBatch])
class AssignZones(beam.PTransform):
    """(vehicle, TelemetryBatch) → (vehicle, ZonedBatch): the zone and areas of every sample."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        super().__init__()
        self.zones = list(zones)

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        zones = self.zones
        return chunks | "Locate" >> beam.MapTuple(
            lambda vehicle, batch: (vehicle, assign_zones(zones, batch))
        )


@beam.typehints.with_input_types(tuple[str, TelemetryBatch])
@beam.typehints.with_output_types(tuple[str, TelemetryBatch])
class GroupByVehicle(beam.PTransform):
    """(vehicle, TelemetryBatch) chunks → (vehicle, the vehicle's whole series in time order).

    The chunks cross the shuffle with ``TelemetryBatchCoder`` (the explicit type below is what
    selects it), and zones are assigned after the grouping, on whole series: one geometry call
    per vehicle rather than per uploaded file, and the shuffled data holds no zone columns.
    """

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        return (
            chunks
            | "AsBatches" >> beam.Map(lambda chunk: chunk).with_output_types(tuple[str, TelemetryBatch])
            | "Group" >> beam.GroupByKey()
            | "InTimeOrder" >> beam.MapTuple(lambda vehicle, parts: (vehicle, batch_in_time_order(parts)))
        )


def evaluate_series(
    zones: Sequence[Zone], vehicle: str, series: ZonedBatch, window_s: int, fences: Sequence[Fence] = ()
) -> Iterator[Any]:
    """The outputs of one vehicle's whole time-ordered series, evaluated as the stream would.

    The evaluator is then advanced to the end of input and finished, which is what the
    stream's end-of-input timer does, so both give the same incidents and summaries. The
    emergency ``fences`` judge the same series (``zones.fences``); their incidents add no
    window summaries, and what they observe for the metrics goes to ``FENCE_OBSERVATIONS``.
    """
    evaluator = vehicle_evaluator(zones, vehicle, window_s)
    yield from emit_evaluation(vehicle, series, evaluator.process(series))
    yield from emit_evaluation(vehicle, None, evaluator.advance(END_OF_INPUT_MS))
    yield from emit_evaluation(vehicle, None, evaluator.finish())
    if fences:
        yield from fence_outputs(fences, vehicle, series.batch)


def fence_outputs(fences: Sequence[Fence], vehicle: str, batch: TelemetryBatch) -> Iterator[Any]:
    """What the emergency fences make of one vehicle's whole series: their incidents (no window
    summaries) and, for the metrics, their observations under ``FENCE_OBSERVATIONS``."""
    records, observations = judge_series(fences, vehicle, batch)
    yield from emit_evaluation(vehicle, None, EvaluationOutput(incidents=records))
    for observation in observations:
        yield beam.pvalue.TaggedOutput(FENCE_OBSERVATIONS, observation)


def evaluate_sorted_series(
    zones: Sequence[Zone],
    zoned: ZonedBatch,
    vehicles: Sequence[str],
    starts: Sequence[int],
    window_s: int,
    *,
    fences: Sequence[Fence] = (),
) -> Iterator[Any]:
    """The outputs of many vehicles' whole series, rows sorted by (vehicle, time, sequence
    number), ``vehicles[k]`` from row ``starts[k]``: vehicle by vehicle, what
    ``evaluate_series`` gives each, except that the window summaries come last, summed per key.

    One call over all vehicles (``zones.evaluate.bucket``) does the per-sample work once for
    the bucket; a config history with changes is evaluated vehicle by vehicle instead. Either
    way the summaries summed per key are the same.
    """
    if not bucket_evaluable(zones):
        yield from evaluate_each_vehicle(zones, zoned, vehicles, starts, window_s, fences=fences)
        return
    result = evaluate_sorted_bucket(zones, zoned, vehicles, starts, window_s, end_of_input_ms=END_OF_INPUT_MS)
    decoded = 0
    for vehicle in result.vehicles:
        processed, name = vehicle.processed, vehicle.vehicle_id
        yield from emit_evaluation(name, None, EvaluationOutput(incidents=processed.incidents))
        decoded += vehicle.end - vehicle.start - len(processed.duplicates) - len(processed.unplaced)
        for reason, rows in (("duplicate", processed.duplicates), ("outside_all_zones", processed.unplaced)):
            yield from dead_rows(zoned, rows, reason, f"{reason.replace('_', ' ')} sample of {name}")
        yield from emit_evaluation(name, None, EvaluationOutput(incidents=vehicle.ended))
        if fences:
            yield from fence_outputs(fences, name, zoned.batch.span(vehicle.start, vehicle.end))
    Metrics.counter(METRICS_NAMESPACE, "records_decoded").inc(decoded)
    for summary in result.summaries:
        yield beam.pvalue.TaggedOutput(SUMMARIES, summary)


def evaluate_each_vehicle(
    zones: Sequence[Zone],
    zoned: ZonedBatch,
    vehicles: Sequence[str],
    starts: Sequence[int],
    window_s: int,
    *,
    fences: Sequence[Fence] = (),
) -> Iterator[Any]:
    """``evaluate_sorted_series`` one vehicle at a time, each summary partial as it comes: the
    reference the bucket evaluation is tested against, and the way histories are evaluated."""
    ends = [*starts[1:], len(zoned)]
    for vehicle, start, end in zip(vehicles, starts, ends, strict=True):
        series = zoned if start == 0 and end == len(zoned) else zoned.span(start, end)
        yield from evaluate_series(zones, vehicle, series, window_s, fences)


class EvaluateSeriesFn(beam.DoFn):
    """(vehicle, whole series in time order) → that vehicle's evaluation outputs."""

    def __init__(self, zones: Sequence[Zone], window_s: int) -> None:
        self.zones = list(zones)
        self.window_s = window_s

    def process(self, element: tuple[str, ZonedBatch]) -> Iterator[Any]:
        vehicle, series = element
        yield from evaluate_series(self.zones, vehicle, series, self.window_s)


@beam.typehints.with_input_types(tuple[str, ZonedBatch])
class EvaluateSeries(beam.PTransform):
    """(vehicle, whole series in time order) → incidents, plus ``summaries`` and ``dead_letter``."""

    def __init__(self, zones: Sequence[Zone], window_s: int) -> None:
        super().__init__()
        self.zones = list(zones)
        self.window_s = window_s

    def expand(self, series: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return series | "EvaluateSeries" >> with_evaluation_outputs(
            beam.ParDo(EvaluateSeriesFn(self.zones, self.window_s))
        )
