"""Stream: a stateful step per vehicle that evaluates what the watermark says is complete.

Each vehicle's chunks are buffered until the watermark has passed their event time plus the
allowed lateness, then evaluated in order. Lateness is judged per vehicle: a sample is late
when its vehicle's evaluation has already moved past its event time (which happens once the
watermark passes a pending sample or a due gap check by the allowed lateness); late samples
are dead-lettered as ``late``, because accepting them would contradict incidents already
emitted. A vehicle with nothing evaluated yet has nothing to contradict, so its samples are
evaluated however late they arrive, which keeps the stream's incidents equal to a replay of
the same files. An event-time timer wakes a silent vehicle's evaluator so a telemetry gap
opens even if the vehicle never sends again.

**Configuration stays in the DoFn, progress in state.** The zones (tens of KB each, with
prepared tables) enter the DoFn once; what Beam keeps per vehicle is only that vehicle's
progress (``VehicleState``): pending runs, last fix, window accumulators. The evaluator is
written to state without its zones and gets the DoFn's zones back after every read, so the
zones' prepared tables are built once per worker, not after every state round trip.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)

from pilotzone.pipelines.transforms.emit import (
    END_OF_INPUT,
    END_OF_INPUT_MS,
    dead_rows,
    emit_evaluation,
    with_evaluation_outputs,
)
from pilotzone.pipelines.transforms.gaps import max_gaps_ms
from pilotzone.pipelines.transforms.series import in_time_order
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import HistoryEvaluator, VehicleEvaluator, ZonedBatch, vehicle_evaluator


@dataclass(frozen=True)
class StreamSettings:
    """How the stream evaluates: summary windows, allowed lateness, and whether its input ends.

    ``input_ends`` says the end of input is evidence of silence (a test stream or a bounded
    input, whose gaps ``ConfirmGaps`` judges later); a drained production stream is not, so
    there a vehicle's clock is not moved past its last fix at the end.
    """

    window_s: int = 60
    allowed_lateness_s: float = 30.0
    input_ends: bool = False

    @property
    def allowed_lateness_ms(self) -> int:
        return int(self.allowed_lateness_s * 1000)


@dataclass
class VehicleState:
    """What the stream keeps per vehicle between bundles: its progress, never configuration.

    ``evaluator`` holds the vehicle's rule state (pending runs, last fix, window
    accumulators); while stored it carries no zones (see ``detached``).
    """

    evaluator: VehicleEvaluator | HistoryEvaluator
    frontier_ms: int = -(2**62)
    """Event time up to which everything of this vehicle has been evaluated."""
    earliest_pending_ms: int = END_OF_INPUT_MS
    last_fix_ms: int | None = None

    def detached(self) -> VehicleState:
        """This state without the zones, for writing to Beam state (the DoFn keeps the zones).

        A copy, so the caller's evaluator keeps its zones; the copy shares the rule state.
        """
        evaluator = copy.copy(self.evaluator)
        evaluator.zones = []
        return dataclasses.replace(self, evaluator=evaluator)

    def attached(self, zones: list[Zone]) -> VehicleState:
        """This state, read back from Beam state, evaluating with ``zones`` again."""
        self.evaluator.zones = zones
        return self


class EvaluateStreamFn(beam.DoFn):
    """Buffer per vehicle until the watermark says a stretch is complete, then evaluate.

    State per vehicle: the pending chunks and the ``VehicleState``. Two timers: ``wake`` at the
    earliest pending sample plus the allowed lateness (or, for a silent vehicle, when its gap
    would open), and ``end`` near the end of the global window, which flushes everything when
    the input ends.
    """

    PENDING = BagStateSpec("pending", PickleCoder())
    EVALUATOR = ReadModifyWriteStateSpec("evaluator", PickleCoder())
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)
    END = TimerSpec("end", TimeDomain.WATERMARK)

    def __init__(self, zones: Sequence[Zone], settings: StreamSettings) -> None:
        self.zones = list(zones)
        self.window_s = settings.window_s
        self.lateness_ms = settings.allowed_lateness_ms
        self.end_is_silence = settings.input_ends
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
        state = self._read(evaluator_state) or VehicleState(
            vehicle_evaluator(self.zones, vehicle, self.window_s)
        )
        late = zoned.batch.time_ms <= state.frontier_ms
        if late.any():
            yield from dead_rows(
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
        evaluator_state.write(state.detached())
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
        state = self._read(evaluator_state)
        if state is None:
            return  # the end-of-input timer fired first and has already flushed everything
        yield from self._evaluate_until(key, complete_until, pending, state)
        evaluator_state.write(state.detached())
        self._arm(wake, state)

    @on_timer(END)
    def on_end(
        self,
        key: Any = beam.DoFn.KeyParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        evaluator_state: Any = beam.DoFn.StateParam(EVALUATOR),
    ) -> Iterator[Any]:
        state = self._read(evaluator_state)
        assert state is not None, "every element sets the end timer after writing its state"
        # A bounded input's end is judged later by ConfirmGaps. A drained stream has no such
        # step, and stopping the monitor is no evidence that vehicles went silent: evaluate
        # what is pending, but do not move the vehicle's clock past its last fix.
        yield from self._evaluate_until(key, END_OF_INPUT_MS, pending, state, advance=self.end_is_silence)
        yield from emit_evaluation(key, None, state.evaluator.finish())
        evaluator_state.clear()

    def _read(self, evaluator_state: Any) -> VehicleState | None:
        stored: VehicleState | None = evaluator_state.read()
        return None if stored is None else stored.attached(self.zones)

    def _evaluate_until(
        self, vehicle: str, until_ms: int, pending: Any, state: VehicleState, *, advance: bool = True
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
                state.earliest_pending_ms = END_OF_INPUT_MS
            if ready.any():
                batch = zoned.take(np.flatnonzero(ready))
                state.last_fix_ms = int(batch.batch.time_ms.max())
                yield from emit_evaluation(vehicle, batch, state.evaluator.process(batch))
        if advance and until_ms > state.frontier_ms:
            state.frontier_ms = until_ms
            yield from emit_evaluation(vehicle, None, state.evaluator.advance(until_ms))

    def _arm(self, wake: Any, state: VehicleState) -> None:
        """Set ``wake`` for the next moment anything can change for this vehicle."""
        candidates = [state.earliest_pending_ms + self.lateness_ms]
        if state.last_fix_ms is not None:
            candidates.extend(
                state.last_fix_ms + gap + self.lateness_ms
                for gap in self.gap_checks_ms
                if state.last_fix_ms + gap > state.frontier_ms
            )
        moment = min(candidates)
        if moment < END_OF_INPUT_MS:
            wake.set(moment / 1000.0)


@beam.typehints.with_input_types(tuple[str, ZonedBatch])
class EvaluateByWatermark(beam.PTransform):
    """(vehicle, ZonedBatch) in any order → incidents, plus ``summaries`` and ``dead_letter``."""

    def __init__(self, zones: Sequence[Zone], settings: StreamSettings) -> None:
        super().__init__()
        self.zones = list(zones)
        self.settings = settings

    def expand(self, zoned: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return zoned | "EvaluateStream" >> with_evaluation_outputs(
            beam.ParDo(EvaluateStreamFn(self.zones, self.settings))
        )
