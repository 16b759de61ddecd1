"""Stream: a stateful step per shard of vehicles that evaluates what the watermark says is complete.

Each vehicle's chunks are buffered until the watermark has passed their event time plus the
allowed lateness, then evaluated in order. Lateness is judged per vehicle: a sample is late
when its vehicle's evaluation has already moved past its event time (which happens once the
watermark passes a pending sample or a due gap check by the allowed lateness); late samples
are dead-lettered as ``late``, because accepting them would contradict incidents already
emitted. A vehicle with nothing evaluated yet has nothing to contradict, so its samples are
evaluated however late they arrive, which keeps the stream's incidents equal to a replay of
the same files. An event-time timer wakes a silent vehicle's evaluator so a telemetry gap
opens even if the vehicle never sends again.

**Keyed by shard, timed per vehicle.** Vehicles are spread over a fixed number of shards
(``shards``) and the stateful step runs per shard: one call per shard per bundle and one timer
firing per shard per tick, rather than one of each per sample (at 1 Hz a vehicle has about one
sample per bundle). Each vehicle keeps its own evaluation points, so what is evaluated, when in
event time, and what counts as late are those of a timer per vehicle.

**Configuration stays in the DoFn, progress in state.** The zones (tens of KB each, with
prepared tables) enter the DoFn once; what Beam keeps per vehicle is only that vehicle's
progress (``VehicleState``): pending runs, last fix, window accumulators. The evaluator is
written to state without its zones and gets the DoFn's zones back after every read, so the
zones' prepared tables are built once per worker, not after every state round trip.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import numpy as np
import numpy.typing as npt
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)

from pilotzone.pipelines.transforms.bundles import zoned_by_vehicle
from pilotzone.pipelines.transforms.emit import (
    END_OF_INPUT,
    END_OF_INPUT_MS,
    dead_rows,
    emit_evaluation,
    with_evaluation_outputs,
)
from pilotzone.pipelines.transforms.gaps import max_gaps_ms
from pilotzone.pipelines.transforms.series import in_time_order
from pilotzone.pipelines.transforms.shards import GatherIntoShards
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
    shards: int = 16
    """Keys of the stateful step: vehicles are spread over this many shards (``shards``)."""
    tick_s: float = 1.0
    """Evaluation points due within one tick of event time are carried out by one firing
    (``EvaluateStreamFn``): incidents may reach the sinks up to this much later."""

    @property
    def allowed_lateness_ms(self) -> int:
        return int(self.allowed_lateness_s * 1000)

    @property
    def tick_ms(self) -> int:
        return int(self.tick_s * 1000)


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


@dataclass
class ShardState:
    """What the stream keeps per shard: each vehicle's detached ``VehicleState``, pickled on its
    own, and that vehicle's next evaluation point.

    Pickled per vehicle so that a call unpickles and pickles again only the vehicles it
    touches: a vehicle's state is about 2 KB of small objects (0.3-1.5 ms to pickle and read
    back here), and a shard holds a hundred vehicles or more. The timer finds the vehicles that
    are due from ``moments`` alone.
    """

    states: dict[str, bytes] = field(default_factory=dict)
    moments: dict[str, int] = field(default_factory=dict)


class ShardVehicles:
    """The vehicles of one shard during one call: read from ``ShardState`` on first use."""

    def __init__(self, stored: ShardState | None, zones: list[Zone]) -> None:
        self.stored = stored if stored is not None else ShardState()
        self.zones = zones
        self.live: dict[str, VehicleState] = {}

    def __len__(self) -> int:
        return len(self.stored.moments.keys() | self.live.keys())

    def get(self, vehicle: str) -> VehicleState | None:
        """The vehicle's state, evaluating with the DoFn's zones; None for a vehicle not seen yet."""
        state = self.live.get(vehicle)
        if state is None and vehicle in self.stored.states:
            stored: VehicleState = pickle.loads(self.stored.states[vehicle])
            state = self.live[vehicle] = stored.attached(self.zones)
        return state

    def add(self, vehicle: str, state: VehicleState) -> VehicleState:
        self.live[vehicle] = state
        return state

    def due(self, now_ms: int) -> list[str]:
        """Vehicles whose next evaluation point is at or before ``now_ms`` (as last stored)."""
        return [vehicle for vehicle, moment in self.stored.moments.items() if moment <= now_ms]

    def everyone(self) -> list[tuple[str, VehicleState]]:
        """Every vehicle of the shard with its state (all of them read)."""
        names = sorted(self.stored.moments.keys() | self.live.keys())
        return [(vehicle, state) for vehicle in names if (state := self.get(vehicle)) is not None]

    def stored_with(self, moment_of: Callable[[VehicleState], int]) -> ShardState:
        """The shard's state with every vehicle read in this call written back, and its moment."""
        for vehicle, state in self.live.items():
            self.stored.states[vehicle] = pickle.dumps(state.detached(), protocol=pickle.HIGHEST_PROTOCOL)
            self.stored.moments[vehicle] = moment_of(state)
        return self.stored


class EvaluateStreamFn(beam.DoFn):
    """Buffer per shard of vehicles until the watermark says a stretch is complete, then evaluate.

    Keyed by shard (``shards``): state per shard is the pending chunks of its vehicles and a
    ``VehicleState`` per vehicle. Each vehicle has its own evaluation points, exactly those a
    timer per vehicle would have: its earliest pending sample plus the allowed lateness, or,
    for a silent vehicle, the moment its gap would open; at each it is evaluated up to that
    point minus the allowed lateness, and the point it reached (its frontier) decides which of
    its samples are late. Two timers per shard: ``wake`` at the earliest evaluation point of its
    vehicles, rounded up to a whole ``tick``, which carries out every point the tick covers,
    vehicle by vehicle and in order; and ``end`` near the end of the global window, which
    flushes everything when the input ends. The tick changes only when a point is carried out
    (at most one tick of event time later), never which points there are: the incidents,
    summaries and late samples are those of one timer per vehicle, while one firing evaluates
    every vehicle of the shard that is due.
    """

    PENDING = BagStateSpec("pending", PickleCoder())
    VEHICLES = ReadModifyWriteStateSpec("vehicles", PickleCoder())
    """The shard's ``ShardState``."""
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)
    END = TimerSpec("end", TimeDomain.WATERMARK)

    def __init__(self, zones: Sequence[Zone], settings: StreamSettings) -> None:
        self.zones = list(zones)
        self.window_s = settings.window_s
        self.lateness_ms = settings.allowed_lateness_ms
        self.tick_ms = settings.tick_ms
        self.end_is_silence = settings.input_ends
        self.gap_checks_ms = sorted({gap + 1 for gap in max_gaps_ms(zones).values()})

    def process(
        self,
        element: tuple[int, ZonedBatch],
        pending: Any = beam.DoFn.StateParam(PENDING),
        vehicles_state: Any = beam.DoFn.StateParam(VEHICLES),
        wake: Any = beam.DoFn.TimerParam(WAKE),
        end: Any = beam.DoFn.TimerParam(END),
    ) -> Iterator[Any]:
        vehicles = self._read(vehicles_state)
        accepted: list[ZonedBatch] = []
        for vehicle, chunk in zoned_by_vehicle(element[1]):
            zoned = chunk
            state = vehicles.get(vehicle)
            if state is None:
                state = vehicles.add(
                    vehicle, VehicleState(vehicle_evaluator(self.zones, vehicle, self.window_s))
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
                accepted.append(zoned)
                state.earliest_pending_ms = min(state.earliest_pending_ms, int(zoned.batch.time_ms.min()))
        if accepted:
            pending.add(accepted[0] if len(accepted) == 1 else ZonedBatch.concat(accepted))
        self._write(vehicles_state, vehicles)
        self._arm(wake, vehicles)
        end.set(END_OF_INPUT)

    @on_timer(WAKE)
    def on_wake(
        self,
        fired: Any = beam.DoFn.TimestampParam,
        pending: Any = beam.DoFn.StateParam(PENDING),
        vehicles_state: Any = beam.DoFn.StateParam(VEHICLES),
        wake: Any = beam.DoFn.TimerParam(WAKE),
    ) -> Iterator[Any]:
        now_ms = int(fired.micros // 1000)
        vehicles = self._read(vehicles_state)
        if not vehicles:
            return  # the end-of-input timer fired first and has already flushed everything
        due = vehicles.due(now_ms)
        if due:
            waiting = self._pending_by_vehicle(pending)
            for vehicle in due:
                state = vehicles.get(vehicle)
                assert state is not None, "a vehicle with a moment has a state"
                rows = waiting.pop(vehicle, None)
                until = self._last_point(state, None if rows is None else rows.batch.time_ms, now_ms)
                if until is not None:
                    rows = yield from self._evaluate_until(vehicle, until, rows, state)
                if rows is not None:
                    waiting[vehicle] = rows
            pending.clear()
            if waiting:
                pending.add(ZonedBatch.concat(list(waiting.values())))
        self._write(vehicles_state, vehicles)
        self._arm(wake, vehicles)

    @on_timer(END)
    def on_end(
        self,
        pending: Any = beam.DoFn.StateParam(PENDING),
        vehicles_state: Any = beam.DoFn.StateParam(VEHICLES),
    ) -> Iterator[Any]:
        vehicles = self._read(vehicles_state)
        assert vehicles, "every element sets the end timer after writing its vehicles' state"
        waiting = self._pending_by_vehicle(pending)
        pending.clear()
        for vehicle, state in vehicles.everyone():
            # A bounded input's end is judged later by ConfirmGaps. A drained stream has no such
            # step, and stopping the monitor is no evidence that vehicles went silent: evaluate
            # what is pending, but do not move the vehicle's clock past its last fix.
            yield from self._evaluate_until(
                vehicle, END_OF_INPUT_MS, waiting.get(vehicle), state, advance=self.end_is_silence
            )
            yield from emit_evaluation(vehicle, None, state.evaluator.finish())
        vehicles_state.clear()

    def _read(self, vehicles_state: Any) -> ShardVehicles:
        return ShardVehicles(vehicles_state.read(), self.zones)

    def _write(self, vehicles_state: Any, vehicles: ShardVehicles) -> None:
        vehicles_state.write(vehicles.stored_with(self._moment))

    @staticmethod
    def _pending_by_vehicle(pending: Any) -> dict[str, ZonedBatch]:
        """The shard's pending samples per vehicle, each in time order."""
        chunks = list(pending.read())
        if not chunks:
            return {}
        merged = chunks[0] if len(chunks) == 1 else ZonedBatch.concat(chunks)
        return {vehicle: in_time_order([rows]) for vehicle, rows in zoned_by_vehicle(merged)}

    def _evaluate_until(
        self,
        vehicle: str,
        until_ms: int,
        rows: ZonedBatch | None,
        state: VehicleState,
        *,
        advance: bool = True,
    ) -> Generator[Any, None, ZonedBatch | None]:
        """Evaluate the vehicle's pending ``rows`` (in time order) up to ``until_ms``, then tell
        the evaluator the time; the rows still pending."""
        rest = None
        if rows is not None and len(rows):
            ready = rows.batch.time_ms <= until_ms
            if (~ready).any():
                rest = rows.take(np.flatnonzero(~ready))
                state.earliest_pending_ms = int(rest.batch.time_ms.min())
            else:
                state.earliest_pending_ms = END_OF_INPUT_MS
            if ready.any():
                batch = rows.take(np.flatnonzero(ready))
                state.last_fix_ms = int(batch.batch.time_ms.max())
                yield from emit_evaluation(vehicle, batch, state.evaluator.process(batch))
        if advance and until_ms > state.frontier_ms:
            state.frontier_ms = until_ms
            yield from emit_evaluation(vehicle, None, state.evaluator.advance(until_ms))
        return rest

    def _moment(self, state: VehicleState) -> int:
        """The vehicle's next evaluation point: when anything can next change for it."""
        return self._point_after(state.frontier_ms, state.earliest_pending_ms, state.last_fix_ms)

    def _point_after(self, frontier_ms: int, earliest_pending_ms: int, last_fix_ms: int | None) -> int:
        candidates = [earliest_pending_ms + self.lateness_ms]
        if last_fix_ms is not None:
            candidates.extend(
                last_fix_ms + gap + self.lateness_ms
                for gap in self.gap_checks_ms
                if last_fix_ms + gap > frontier_ms
            )
        return min(candidates)

    def _last_point(
        self, state: VehicleState, times: npt.NDArray[np.int64] | None, now_ms: int
    ) -> int | None:
        """Where evaluating the vehicle point by point up to ``now_ms`` would leave its frontier
        (None: no point is due), found from its pending sample ``times`` (ascending) alone.

        One evaluator call up to that frontier gives what the calls point by point would: the
        evaluator's results do not depend on how samples are cut into calls, and between two
        points only samples arrive, no new lateness decision is taken.
        """
        frontier, earliest, last_fix = state.frontier_ms, state.earliest_pending_ms, state.last_fix_ms
        left = times if times is not None else np.zeros(0, dtype=np.int64)
        reached = None
        while (moment := self._point_after(frontier, earliest, last_fix)) <= now_ms:
            until = moment - self.lateness_ms
            if len(left):
                ready = int(np.searchsorted(left, until, side="right"))
                if ready:
                    last_fix = int(left[ready - 1])
                left = left[ready:]
                earliest = int(left[0]) if len(left) else END_OF_INPUT_MS
            frontier = max(frontier, until)
            reached = until
        return reached

    def _arm(self, wake: Any, vehicles: ShardVehicles) -> None:
        """Set ``wake`` for the first tick that covers one of the vehicles' evaluation points."""
        moment = min(vehicles.stored.moments.values(), default=END_OF_INPUT_MS)
        if self.tick_ms > 1:
            moment = -(-moment // self.tick_ms) * self.tick_ms
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
        return (
            zoned
            | "GatherIntoShards" >> GatherIntoShards(self.settings.shards)
            | "EvaluateStream"
            >> with_evaluation_outputs(beam.ParDo(EvaluateStreamFn(self.zones, self.settings)))
        )
