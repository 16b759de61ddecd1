"""The compliance pipeline's transforms: zones, rules, incidents and window summaries.

The pipeline reads as a sentence::

    ReadTelemetry | DecodeTelemetry | AssignZones | EvaluateRules | SummarizeWindows | Write...

and the same transforms serve a batch replay and a stream. All rule logic lives in
``zones.evaluate`` (pure Python on numpy columns); this module only decides *when* a
vehicle's samples are handed to its ``VehicleEvaluator``:

* **Replay** (bounded input): group each vehicle's chunks, sort them by event time and
  evaluate the whole series at once. One evaluator call per vehicle keeps the stateful part
  off the per-sample path (a stateful DoFn per sample would cap throughput at ~5k/s).
* **Stream**: a stateful DoFn per vehicle buffers chunks until the watermark has passed
  their event time plus the allowed lateness, then evaluates what is complete, in order.
  Lateness is judged per vehicle: a sample is late when its vehicle's evaluation has already
  moved past its event time (which happens once the watermark passes a pending sample or a
  due gap check by the allowed lateness); late samples are dead-lettered as ``late``, because
  accepting them would contradict incidents already emitted. A vehicle with nothing
  evaluated yet has nothing to contradict, so its samples are evaluated however late they
  arrive, which keeps the stream's incidents equal to a replay of the same files.
  An event-time timer wakes a silent vehicle's evaluator so a telemetry gap opens even if
  the vehicle never sends again.

The evaluator's results do not depend on how a vehicle's samples are cut into chunks, so
both paths give the same incidents and summaries; tests compare them with ``TestStream``.

**End of input is not evidence of silence.** When a bounded input ends, the watermark jumps
to the end of time and every vehicle looks silent. A telemetry gap that had not yet lasted
``max_gap_s`` at the input's horizon (the latest event time in the input) was not observed,
so ``ConfirmGaps`` removes gap incidents that would only have opened after the horizon. An
unbounded stream has no horizon and keeps them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Duration, Timestamp

from pilotzone.pipelines.transforms.coders import TelemetryBatchCoder  # noqa: F401  (registers the coder)
from pilotzone.pipelines.transforms.decode import DEAD_LETTER, METRICS_NAMESPACE, dead_letter_record
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import (
    STATUSES,
    EvaluationOutput,
    IncidentRecord,
    VehicleEvaluator,
    WindowSummary,
    ZonedBatch,
    assign_zones,
)
from pilotzone.zones.model import TelemetryGapRule

SUMMARIES = "summaries"
"""Tag of the window-summary partials output of ``EvaluateRules``."""

END_OF_INPUT = Timestamp(micros=GlobalWindow().max_timestamp().micros // 1000 * 1000) - Duration(
    seconds=24 * 3600
)
"""When the streaming evaluator's end-of-input timer fires: a day before the end of the global
window (on a whole millisecond, as watermarks are), not at it. What a timer outputs carries its timestamp, and output stamped with the
window's very end reaches the whole-input aggregations after their only firing, as late data."""
_END_OF_TIME_MS = int(END_OF_INPUT.micros // 1000)


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


class _EmitMixin:
    """Turns an ``EvaluationOutput`` into the three outputs, counting what it emits."""

    def _emit(self, vehicle: str, zoned: ZonedBatch | None, output: EvaluationOutput) -> Iterator[Any]:
        for incident in output.incidents:
            Metrics.counter(METRICS_NAMESPACE, f"incidents_{incident.status.lower()}").inc()
            yield incident
        for summary in output.summaries:
            yield beam.pvalue.TaggedOutput(SUMMARIES, summary)
        if zoned is None:
            return
        rejected = len(output.duplicates) + len(output.unplaced)
        Metrics.counter(METRICS_NAMESPACE, "records_decoded").inc(len(zoned.batch) - rejected)
        for reason, rows in (("duplicate", output.duplicates), ("outside_all_zones", output.unplaced)):
            yield from _dead_rows(zoned, rows, reason, f"{reason.replace('_', ' ')} sample of {vehicle}")


def _dead_rows(zoned: ZonedBatch, rows: np.ndarray, reason: str, message: str) -> Iterator[Any]:
    if len(rows) == 0:
        return
    Metrics.counter(METRICS_NAMESPACE, "records_dead_lettered").inc(len(rows))
    Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{reason}").inc(len(rows))
    batch = zoned.batch
    for row in rows.tolist():
        yield beam.pvalue.TaggedOutput(
            DEAD_LETTER,
            dead_letter_record(
                source=f"vehicle:{batch.vehicle_id[row]}",
                offset=-1,
                reason=reason,
                message=message,
                record=int(batch.record_index[row]),
                vehicle_id=str(batch.vehicle_id[row]),
                sequence_number=int(batch.sequence_number[row]),
                time_ms=int(batch.time_ms[row]),
            ),
        )


def in_time_order(chunks: Iterable[ZonedBatch]) -> ZonedBatch:
    """One vehicle's chunks as one batch sorted by (event time, sequence number)."""
    merged = ZonedBatch.concat(list(chunks))
    order = np.lexsort((merged.batch.sequence_number, merged.batch.time_ms))
    return merged.take(order)


def batch_in_time_order(chunks: Iterable[TelemetryBatch]) -> TelemetryBatch:
    """``in_time_order`` for chunks not yet placed in zones: the same rows in the same order."""
    parts = list(chunks)
    merged = parts[0] if len(parts) == 1 else TelemetryBatch.concat(parts)
    order = np.lexsort((merged.sequence_number, merged.time_ms))
    if bool((order == np.arange(len(order))).all()):
        return merged
    return merged.take(order)


class GroupByVehicle(beam.PTransform):
    """Replay: (vehicle, TelemetryBatch) chunks → (vehicle, the vehicle's whole series in time order).

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


class _EvaluateSeriesFn(_EmitMixin, beam.DoFn):
    """Replay: evaluate one vehicle's whole series in one call.

    Elements are (vehicle, chunks) after a GroupByKey, or with ``ordered`` (vehicle, series)
    where the series is already the whole vehicle in time order (``GroupByVehicle``).
    """

    def __init__(self, zones: Sequence[Zone], window_s: int, ordered: bool = False) -> None:
        self.zones = list(zones)
        self.window_s = window_s
        self.ordered = ordered

    def process(self, element: tuple[str, Any]) -> Iterator[Any]:
        vehicle, chunks = element
        zoned = chunks if self.ordered else in_time_order(chunks)
        evaluator = VehicleEvaluator(self.zones, vehicle, self.window_s)
        yield from self._emit(vehicle, zoned, evaluator.process(zoned))
        yield from self._emit(vehicle, None, evaluator.advance(_END_OF_TIME_MS))
        yield from self._emit(vehicle, None, evaluator.finish())


class _EvaluateStreamFn(_EmitMixin, beam.DoFn):
    """Stream: buffer per vehicle until the watermark says a stretch is complete, then evaluate.

    State per vehicle: the pending chunks, the evaluator, and the frontier (event time up to
    which everything has been evaluated). Two timers: ``wake`` at the earliest pending sample
    plus the allowed lateness (or, for a silent vehicle, when its gap would open), and
    ``end`` at the end of the global window, which flushes everything when the input ends.
    """

    PENDING = BagStateSpec("pending", PickleCoder())
    EVALUATOR = ReadModifyWriteStateSpec("evaluator", PickleCoder())
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)
    END = TimerSpec("end", TimeDomain.WATERMARK)

    def __init__(
        self, zones: Sequence[Zone], window_s: int, allowed_lateness_ms: int, *, end_is_silence: bool = True
    ) -> None:
        self.zones = list(zones)
        self.window_s = window_s
        self.lateness_ms = allowed_lateness_ms
        self.end_is_silence = end_is_silence
        self.gap_checks_ms = sorted({gap + 1 for gap in max_gaps_ms(zones).values()})

    def process(
        self,
        element: tuple[str, ZonedBatch],
        pending: Any = beam.DoFn.StateParam(PENDING),
        evaluator_state: Any = beam.DoFn.StateParam(EVALUATOR),
        wake: Any = beam.DoFn.TimerParam(WAKE),
        end: Any = beam.DoFn.TimerParam(END),
    ) -> Iterator[Any]:
        vehicle, zoned = element
        state = evaluator_state.read() or _VehicleState(VehicleEvaluator(self.zones, vehicle, self.window_s))
        late = zoned.batch.time_ms <= state.frontier_ms
        if late.any():
            yield from _dead_rows(
                zoned,
                np.flatnonzero(late),
                "late",
                f"arrived after the watermark passed its event time plus the allowed lateness "
                f"({self.lateness_ms / 1000:g} s)",
            )
            zoned = zoned.take(np.flatnonzero(~late))
        if len(zoned.batch):
            pending.add(zoned)
            state.earliest_pending_ms = min(state.earliest_pending_ms, int(zoned.batch.time_ms.min()))
        evaluator_state.write(state)
        self._arm(wake, state)
        end.set(END_OF_INPUT)

    @on_timer(WAKE)
    def on_wake(
        self,
        fired: Any = beam.DoFn.TimestampParam,
        key: Any = beam.DoFn.KeyParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        evaluator_state: Any = beam.DoFn.StateParam(EVALUATOR),
        wake: Any = beam.DoFn.TimerParam(WAKE),
    ) -> Iterator[Any]:
        complete_until = int(fired.micros // 1000) - self.lateness_ms
        state: _VehicleState | None = evaluator_state.read()
        if state is None:
            return  # the end-of-input timer fired first and has already flushed everything
        yield from self._evaluate_until(key, complete_until, pending, state)
        evaluator_state.write(state)
        self._arm(wake, state)

    @on_timer(END)
    def on_end(
        self,
        key: Any = beam.DoFn.KeyParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        evaluator_state: Any = beam.DoFn.StateParam(EVALUATOR),
    ) -> Iterator[Any]:
        state: _VehicleState = evaluator_state.read()
        # A bounded input's end is judged later by ConfirmGaps. A drained stream has no such
        # step, and stopping the monitor is no evidence that vehicles went silent: evaluate
        # what is pending, but do not move the vehicle's clock past its last fix.
        yield from self._evaluate_until(key, _END_OF_TIME_MS, pending, state, advance=self.end_is_silence)
        yield from self._emit(key, None, state.evaluator.finish())
        evaluator_state.clear()

    def _evaluate_until(
        self, vehicle: str, until_ms: int, pending: Any, state: _VehicleState, *, advance: bool = True
    ) -> Iterator[Any]:
        """Evaluate pending samples up to ``until_ms`` in order, then tell the evaluator the time."""
        chunks = list(pending.read())
        pending.clear()
        if chunks:
            zoned = in_time_order(chunks)
            ready = zoned.batch.time_ms <= until_ms
            if (~ready).any():
                rest = zoned.take(np.flatnonzero(~ready))
                pending.add(rest)
                state.earliest_pending_ms = int(rest.batch.time_ms.min())
            else:
                state.earliest_pending_ms = _END_OF_TIME_MS
            if ready.any():
                batch = zoned.take(np.flatnonzero(ready))
                state.last_fix_ms = int(batch.batch.time_ms.max())
                yield from self._emit(vehicle, batch, state.evaluator.process(batch))
        if advance and until_ms > state.frontier_ms:
            state.frontier_ms = until_ms
            yield from self._emit(vehicle, None, state.evaluator.advance(until_ms))

    def _arm(self, wake: Any, state: _VehicleState) -> None:
        """Set ``wake`` for the next moment anything can change for this vehicle."""
        candidates = [state.earliest_pending_ms + self.lateness_ms]
        if state.last_fix_ms is not None:
            candidates.extend(
                state.last_fix_ms + gap + self.lateness_ms
                for gap in self.gap_checks_ms
                if state.last_fix_ms + gap > state.frontier_ms
            )
        moment = min(candidates)
        if moment < _END_OF_TIME_MS:
            wake.set(moment / 1000.0)


def max_gaps_ms(zones: Sequence[Zone]) -> dict[tuple[str, str], int]:
    """Each telemetry-gap rule's ``max_gap_s`` in ms, by (pilot zone, rule id)."""
    return {
        (zone.zone_id, rule.id): int(rule.max_gap_s * 1000)
        for zone in zones
        for rule in zone.rules_of_kind("telemetry_gap")
        if isinstance(rule, TelemetryGapRule)
    }


class _VehicleState:
    """What the streaming evaluator keeps per vehicle between bundles (pickled into state)."""

    def __init__(self, evaluator: VehicleEvaluator) -> None:
        self.evaluator = evaluator
        self.frontier_ms = -(2**62)
        self.earliest_pending_ms = _END_OF_TIME_MS
        self.last_fix_ms: int | None = None


class EvaluateRules(beam.PTransform):
    """(vehicle, ZonedBatch) → incident records, plus ``summaries`` and ``dead_letter`` outputs.

    A replay groups each vehicle's chunks here, unless ``grouped`` says every element is
    already a vehicle's whole series in time order (``GroupByVehicle`` then ``AssignZones``).
    """

    def __init__(
        self,
        zones: Sequence[Zone],
        *,
        streaming: bool = False,
        window_s: int = 60,
        allowed_lateness_s: float = 30.0,
        bounded: bool = True,
        grouped: bool = False,
    ) -> None:
        super().__init__()
        self.zones = list(zones)
        self.streaming = streaming
        self.bounded = bounded
        self.grouped = grouped
        self.window_s = window_s
        self.allowed_lateness_ms = int(allowed_lateness_s * 1000)

    def expand(self, zoned: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        if self.streaming:
            evaluate = beam.ParDo(
                _EvaluateStreamFn(
                    self.zones, self.window_s, self.allowed_lateness_ms, end_is_silence=self.bounded
                )
            )
            return zoned | "EvaluateStream" >> evaluate.with_outputs(SUMMARIES, DEAD_LETTER, main="incidents")
        if self.grouped:
            return zoned | "EvaluateSeries" >> beam.ParDo(
                _EvaluateSeriesFn(self.zones, self.window_s, ordered=True)
            ).with_outputs(SUMMARIES, DEAD_LETTER, main="incidents")
        return (
            zoned
            | "GroupByVehicle" >> beam.GroupByKey()
            | "EvaluateSeries"
            >> beam.ParDo(_EvaluateSeriesFn(self.zones, self.window_s)).with_outputs(
                SUMMARIES, DEAD_LETTER, main="incidents"
            )
        )


def event_time_horizon(zoned: beam.PCollection) -> beam.PCollection:
    """The latest event time in the input (a singleton), for ``ConfirmGaps``."""
    return (
        zoned
        | "LatestSample"
        >> beam.MapTuple(lambda _, z: int(z.batch.time_ms.max()) if len(z.batch) else -(2**62))
        | "Horizon" >> beam.CombineGlobally(max).without_defaults()
    )


def gap_observed(incident: IncidentRecord, horizon_ms: int, max_gap_ms: dict[tuple[str, str], int]) -> bool:
    """Whether an incident was observed before the input ended (see the module docstring).

    Only open telemetry gaps can have been raised by the end of input itself: one is kept when
    the input went on past the moment its gap exceeded the rule's ``max_gap_s``.
    """
    if incident.kind != "telemetry_gap" or incident.end_ms is not None:
        return True
    return incident.start_ms + max_gap_ms[(incident.pilot_zone, incident.rule_id)] < horizon_ms


CORRECTIONS = "corrections"
"""Tag of ``ConfirmGaps``' window-summary corrections for the gaps it removed."""


class _ConfirmGapsFn(beam.DoFn):
    def __init__(self, max_gap_ms: dict[tuple[str, str], int], window_s: int) -> None:
        self.max_gap_ms = max_gap_ms
        self.window_ms = window_s * 1000

    def process(self, incident: IncidentRecord, horizon: int) -> Iterator[Any]:
        if gap_observed(incident, horizon, self.max_gap_ms):
            yield incident
            return
        Metrics.counter(METRICS_NAMESPACE, "gaps_after_end_of_input").inc()
        # The evaluator counted this gap as opened in its window; take it back out.
        yield beam.pvalue.TaggedOutput(
            CORRECTIONS,
            WindowSummary(
                pilot_zone=incident.pilot_zone,
                operator_id=incident.operator_id,
                vehicle_class=incident.vehicle_class,
                window_start_ms=incident.start_ms - incident.start_ms % self.window_ms,
                incidents_opened={(incident.kind, incident.severity): -1},
            ),
        )


class ConfirmGaps(beam.PTransform):
    """Drop telemetry gaps that only the end of a bounded input opened.

    Main output: the incidents that stand. ``corrections``: window-summary partials that
    subtract the removed gaps from ``incidents_opened``, so summaries agree with the log.
    """

    def __init__(self, zones: Sequence[Zone], horizon: beam.PCollection, window_s: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.window_s = window_s
        self.max_gap_ms = max_gaps_ms(zones)

    def expand(self, incidents: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return incidents | "Observed" >> beam.ParDo(
            _ConfirmGapsFn(self.max_gap_ms, self.window_s), horizon=beam.pvalue.AsSingleton(self.horizon)
        ).with_outputs(CORRECTIONS, main="incidents")


def summary_key(summary: WindowSummary) -> tuple[str, str, str, int]:
    """The grouping of window summaries: pilot zone, operator, vehicle class, window start."""
    return (summary.pilot_zone, summary.operator_id, summary.vehicle_class, summary.window_start_ms)


class SummarizeWindows(beam.PTransform):
    """Partial window summaries of many vehicles → one summary per zone, operator, class and window."""

    def expand(self, partials: beam.PCollection) -> beam.PCollection:
        return (
            partials
            | "KeyByWindow" >> beam.Map(lambda s: (summary_key(s), s))
            | "Merge" >> beam.CombinePerKey(merge_all)
            | "Values" >> beam.Values()
        )


def merge_all(summaries: Iterable[WindowSummary]) -> WindowSummary:
    merged: WindowSummary | None = None
    for summary in summaries:
        merged = summary if merged is None else merged.merge(summary)
    assert merged is not None, "CombinePerKey never merges an empty group"
    return merged


class FinalIncidentStates(beam.PTransform):
    """Lifecycle records → the last state of each incident (what the incident log lists)."""

    def expand(self, incidents: beam.PCollection) -> beam.PCollection:
        return (
            incidents
            | "ById" >> beam.Map(lambda i: (i.incident_id, i))
            | "Latest" >> beam.CombinePerKey(_latest_state)
            | "Values" >> beam.Values()
        )


_STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}


def _latest_state(records: Iterable[IncidentRecord]) -> IncidentRecord:
    """CLOSED beats UPDATED beats OPENED; among updates the one with the highest peak."""
    return max(
        records,
        key=lambda r: (_STATUS_RANK[r.status], r.end_ms or 0, r.peak_value or 0.0, r.explanation),
    )
