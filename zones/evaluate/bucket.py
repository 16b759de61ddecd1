"""A whole bucket of vehicles evaluated at once, as fresh ``VehicleEvaluator``\\ s would.

A replay hands the evaluator many vehicles' complete series, sorted by (vehicle, time,
sequence number). Most of the work is per sample and needs no vehicle state: duplicates,
vehicle zones, columns, minute of the week, rule-context groups, gaps, window partials, stop
states, every rule's condition and the crossing search. Here it runs once over the sorted
bucket, with each vehicle's first fix treated as the start of a fresh evaluator (no earlier
fix, no carried state). Only what is sequential per vehicle -- runs becoming incidents, gap,
crossing and event records, the end-of-input gap and still-open incidents -- runs per
vehicle, and only for vehicles that have any of it, through the same parts
(``runs``, ``gaps``, ``crossings``, ``events``) the per-vehicle evaluator uses.

The result equals, vehicle by vehicle and record by record, what ``VehicleEvaluator``
gives for ``process(series)``, ``advance(end_of_input_ms)`` and ``finish()``; window
summaries come out summed per key over the bucket (``sum_by_key``), which is what the
per-vehicle partials sum to. It judges by one set of zones: a config history with changes
(``zones.history``) is evaluated per vehicle (``bucket_evaluable``).

The rules over all fixes are in ``bucket_rules``, the window summaries in ``bucket_windows``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pilotzone.schemas.factorize import sorted_codes
from pilotzone.zones.evaluate.bucket_rules import (
    bucket_conditions,
    may_open,
    stop_states_by_vehicle,
    take_fixes,
)
from pilotzone.zones.evaluate.bucket_windows import bucket_summaries, window_partials
from pilotzone.zones.evaluate.chunk import Chunk, columns, groups_of, metres_outside, minute_of_week
from pilotzone.zones.evaluate.crossings import crossing_hits, crossing_records
from pilotzone.zones.evaluate.evaluator import DUPLICATE_HORIZON_S
from pilotzone.zones.evaluate.events import event_records, wanted_events
from pilotzone.zones.evaluate.gaps import gap_closed, gap_opened
from pilotzone.zones.evaluate.records import EvaluationOutput, IncidentRecord
from pilotzone.zones.evaluate.runs import Run, RunTracker, still_open
from pilotzone.zones.evaluate.summaries import Windows, WindowSummary, sum_by_key
from pilotzone.zones.evaluate.tables import Plan, plan_for
from pilotzone.zones.evaluate.writer import IncidentWriter
from pilotzone.zones.evaluate.zoning import ZonedBatch
from pilotzone.zones.history import history_of
from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, IntArray
from pilotzone.zones.zone import Zone

SLICE_ROWS = 262_144
"""At most this many samples (or one vehicle) are evaluated at once: the whole-bucket columns
are several times the size of the samples, and a spilled replay's bucket can hold millions."""

_DUPLICATE_MS = int(DUPLICATE_HORIZON_S * 1000)


@dataclass
class VehicleResult:
    """One vehicle of a bucket: its rows ``start:end`` in the bucket and what it gave.

    ``processed`` is what ``VehicleEvaluator.process`` returns for the whole series, its
    duplicates and unplaced samples as rows of the bucket and no summaries; ``ended`` holds
    the incidents of ``advance`` to the end of input and ``finish``.
    """

    vehicle_id: str
    start: int
    end: int
    processed: EvaluationOutput
    ended: list[IncidentRecord] = field(default_factory=list)


@dataclass
class BucketResult:
    """Every vehicle's result in bucket order, and the bucket's window summaries per key."""

    vehicles: list[VehicleResult]
    summaries: list[WindowSummary]


def bucket_evaluable(zones: Sequence[Zone]) -> bool:
    """Whether ``evaluate_sorted_bucket`` can judge by these zones (no config changes)."""
    return not history_of(zones).changes


def evaluate_sorted_bucket(
    zones: Sequence[Zone],
    zoned: ZonedBatch,
    vehicles: Sequence[str],
    starts: Sequence[int],
    window_s: int,
    *,
    end_of_input_ms: int,
    slice_rows: int = SLICE_ROWS,
) -> BucketResult:
    """Evaluate a bucket whose rows are sorted by (vehicle, time, sequence number).

    ``vehicles[k]``'s samples are rows ``starts[k]:starts[k + 1]`` (the last up to the end).
    A large bucket is evaluated a slice of whole vehicles at a time (``SLICE_ROWS``).
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    if not bucket_evaluable(zones):
        raise ValueError("a config history with changes is evaluated per vehicle, not by bucket")
    plan = plan_for(tuple(zones))
    bounds = [*starts, len(zoned)]
    results: list[VehicleResult] = []
    summaries: list[WindowSummary] = []
    first = slices = 0
    while first < len(vehicles):
        # Whole vehicles, up to ``slice_rows`` samples (at least one vehicle).
        last = int(np.searchsorted(bounds, bounds[first] + slice_rows, side="right")) - 1
        last = min(max(last, first + 1), len(vehicles))
        offset = bounds[first]
        part = zoned if first == 0 and last == len(vehicles) else zoned.span(offset, bounds[last])
        part_starts = [start - offset for start in bounds[first:last]]
        done = _Bucket(plan, part, vehicles[first:last], part_starts, window_s * 1000).run(end_of_input_ms)
        for vehicle in done.vehicles:
            vehicle.start += offset
            vehicle.end += offset
            vehicle.processed.duplicates = vehicle.processed.duplicates + offset
            vehicle.processed.unplaced = vehicle.processed.unplaced + offset
        results += done.vehicles
        summaries += done.summaries
        first = last
        slices += 1
    return BucketResult(results, summaries if slices == 1 else sum_by_key(summaries))


class _Bucket:
    """The per-sample work over the whole bucket, then the per-vehicle remainder."""

    def __init__(
        self, plan: Plan, zoned: ZonedBatch, vehicles: Sequence[str], starts: Sequence[int], window_ms: int
    ) -> None:
        self.plan = plan
        self.zoned = zoned
        self.vehicles = list(vehicles)
        n = len(zoned)
        self.bounds = np.append(np.asarray(starts, dtype=np.int64), n)
        self.owner = np.repeat(np.arange(len(self.vehicles)), np.diff(self.bounds))
        self.window_ms = window_ms
        self.windows = Windows(window_ms)

    # --- per sample, over the whole bucket ---------------------------------------------

    def _duplicates(self) -> BoolArray:
        """A fresh evaluator's duplicates: a sequence number repeated within the horizon."""
        batch = self.zoned.batch
        seq, t, owner = batch.sequence_number, batch.time_ms, self.owner
        n = len(seq)
        duplicate = np.zeros(n, dtype=bool)
        if n < 2 or bool(((seq[1:] > seq[:-1]) | (owner[1:] != owner[:-1])).all()):
            return duplicate
        order = np.lexsort((np.arange(n), seq, owner))
        s, times, o = seq[order], t[order], owner[order]
        repeat = np.zeros(n, dtype=bool)
        repeat[1:] = (o[1:] == o[:-1]) & (s[1:] == s[:-1]) & (times[1:] - times[:-1] <= _DUPLICATE_MS)
        duplicate[order] = repeat
        return duplicate

    def _vehicle_zones(self, fresh: npt.NDArray[np.intp]) -> IntArray:
        """Per fresh row, the vehicle's zone (``zones.evaluate``), -1 if unplaced."""
        if fresh.size == 0:
            return np.zeros(0, dtype=np.int64)
        zone = self.zoned.zone[fresh].astype(np.int64)
        owner = self.owner[fresh]
        seen = np.maximum.accumulate(np.where(zone >= 0, np.arange(len(zone)), -1))
        first = np.searchsorted(fresh, self.bounds[:-1])[owner]
        vehicle_zone = np.where(seen >= first, zone[np.maximum(seen, 0)], -1)
        missing = np.flatnonzero(vehicle_zone < 0)
        if missing.size:
            lookup = self.plan.operator_zone
            operators = self.zoned.batch.operator_id[fresh[missing]]
            vehicle_zone[missing] = [lookup.get(op, -1) for op in operators.tolist()]
        return vehicle_zone

    def run(self, end_of_input_ms: int) -> BucketResult:
        plan = self.plan
        duplicate = self._duplicates()
        fresh = np.flatnonzero(~duplicate)
        vehicle_zone = self._vehicle_zones(fresh)
        placed = fresh[vehicle_zone >= 0]
        unplaced = fresh[vehicle_zone < 0]
        cols = columns(self.zoned, placed, vehicle_zone[vehicle_zone >= 0], None, plan)
        m = len(cols.t)
        owner = self.owner[placed]
        head = np.ones(m, dtype=bool)
        head[1:] = owner[1:] != owner[:-1]
        first = np.flatnonzero(head)[np.cumsum(head) - 1] if m else np.zeros(0, dtype=np.int64)
        minute = minute_of_week(cols.t, cols.vz, plan) if m else np.zeros(0, dtype=np.int64)
        groups, ginv = groups_of(cols, minute, plan) if m else ([], np.zeros(0, dtype=np.int64))
        gap_ms = np.array([info.gap_ms for _, info in groups], dtype=np.int64)[ginv]
        dt_ms = np.zeros(m, dtype=np.int64)
        dt_ms[1:] = np.diff(cols.t)
        gap = np.zeros(m, dtype=bool)
        gap[1:] = dt_ms[1:] > gap_ms[:-1]
        gap &= ~head
        cut = gap | head  # no interval ends here: a gap, or a vehicle's first fix
        gaps_before = np.cumsum(gap)
        in_force = np.zeros((len(groups), len(plan.rules)), dtype=bool)
        in_rule_area = np.zeros((len(groups), len(plan.rules)), dtype=bool)
        for g, (zone_pos, info) in enumerate(groups):
            begin = plan.first_rule[zone_pos]
            in_force[g, begin : begin + len(info.in_force)] = info.in_force
            in_rule_area[g, begin : begin + len(info.in_force)] = info.in_rule_area
        chunk = Chunk(
            zoned=self.zoned,
            rows=placed,
            cols=cols,
            c0=0,
            minute=minute,
            groups=groups,
            ginv=ginv,
            gap=cut,
            gaps_before=np.zeros(0, dtype=np.int64),
            in_rule_area=in_rule_area,
            out=EvaluationOutput(),
        )
        op_codes = sorted_codes(cols.op)
        partials = window_partials(chunk, dt_ms, owner, self.vehicles, op_codes, self.window_ms)
        outside: list[FloatArray] = []

        def metres() -> FloatArray:
            if not outside:
                outside.append(metres_outside(cols, plan))
            return outside[0]

        stopped = stop_states_by_vehicle(cols.speed, plan.stop_thresholds, first)
        fixes = cols.fixes(minute, stopped, metres)
        placed_bounds = np.searchsorted(owner, np.arange(len(self.vehicles) + 1))

        # What each vehicle has to do in order, as positions in the placed rows. A rule's
        # condition is kept only for the vehicles whose runs of it need following.
        vehicle_of = owner.tolist()
        runs_of: dict[int, list[tuple[int, BoolArray, FloatArray | None]]] = {}
        for r, condition, values in bucket_conditions(plan, fixes, in_force, ginv, op_codes):
            for v in may_open(plan, r, condition, owner, cols.t, gaps_before).tolist():
                part = slice(placed_bounds[v], placed_bounds[v + 1])
                own_values = None if values is None else values[part].copy()
                runs_of.setdefault(v, []).append((r, condition[part].copy(), own_values))
        gap_rule = np.array([info.gap_rule for _, info in groups], dtype=np.int64)
        gaps_of: dict[int, list[int]] = {}
        for i in np.flatnonzero(gap).tolist():
            if gap_rule[ginv[i - 1]] >= 0:
                gaps_of.setdefault(vehicle_of[i], []).append(i)
        crossings_of: dict[int, list[tuple[int, int, int, object]]] = {}
        for hit in crossing_hits(chunk, plan):
            crossings_of.setdefault(vehicle_of[hit[2]], []).append(hit)
        events_of: dict[int, list[int]] = {}
        event_position = np.zeros(0, dtype=np.int64)
        if len(self.zoned.batch.event_row) and m:
            wanted, event_position = wanted_events(chunk, plan)
            for e in wanted.tolist():
                events_of.setdefault(vehicle_of[int(event_position[e])], []).append(e)
        dead = {
            "duplicates": _split(np.flatnonzero(duplicate), self.bounds),
            "unplaced": _split(unplaced, self.bounds),
        }

        results = []
        for v, vehicle in enumerate(self.vehicles):
            a, b = int(placed_bounds[v]), int(placed_bounds[v + 1])
            out = EvaluationOutput(duplicates=dead["duplicates"][v], unplaced=dead["unplaced"][v])
            result = VehicleResult(vehicle, int(self.bounds[v]), int(self.bounds[v + 1]), out)
            results.append(result)
            if a == b:
                continue
            writer = IncidentWriter(plan, vehicle, self.windows)
            for i in gaps_of.get(v, ()):
                earlier = chunk.last_fix(i - 1, plan)
                out.incidents += [gap_opened(writer, earlier), gap_closed(writer, earlier, int(cols.t[i]))]
            runs: dict[int, Run] = {}
            if v in runs_of:
                self._track(runs_of[v], chunk, a, b, writer, runs, fixes, out)
            for zone_pos, local, i, line in crossings_of.get(v, ()):
                out.incidents += crossing_records(chunk, writer, i, line, zone_pos, local)
            if v in events_of:
                out.incidents += event_records(chunk, writer, events_of[v], event_position)
            last = chunk.last_fix(b - 1, plan)
            frontier = int(self.zoned.batch.time_ms[self.bounds[v + 1] - 1])
            if (
                end_of_input_ms > frontier
                and end_of_input_ms - last.time_ms > last.gap_ms
                and last.gap_rule >= 0
            ):
                result.ended.append(gap_opened(writer, last))
            if runs:
                result.ended += still_open(writer, runs)
        return BucketResult(results, bucket_summaries(plan.zones, partials, self.windows))

    def _track(  # noqa: PLR0917 - one vehicle's runs: its rules, rows and outputs
        self,
        rules: list[tuple[int, BoolArray, FloatArray | None]],
        chunk: Chunk,
        a: int,
        b: int,
        writer: IncidentWriter,
        runs: dict[int, Run],
        fixes: Fixes,
        out: EvaluationOutput,
    ) -> None:
        """Rows ``a:b`` (one vehicle) through ``RunTracker``, as a chunk of their own, for the
        ``rules`` given with the vehicle's conditions and peak values."""
        cols = chunk.cols
        part = slice(a, b)
        gap = chunk.gap[part].copy()
        gap[0] = False
        own = Chunk(
            zoned=chunk.zoned,
            rows=chunk.rows[part],
            cols=cols.rows(a, b),
            c0=0,
            minute=chunk.minute[part],
            groups=chunk.groups,
            ginv=chunk.ginv[part],
            gap=gap,
            gaps_before=np.cumsum(gap),
            in_rule_area=chunk.in_rule_area,
            out=out,
        )
        own_fixes = take_fixes(fixes, part)
        tracker = RunTracker(runs, writer, own, own_fixes)
        for r, condition, values in rules:
            tracker.advance(r, condition, values)


def _split(rows: npt.NDArray[np.intp], bounds: IntArray) -> list[npt.NDArray[np.intp]]:
    """Sorted bucket rows cut into each vehicle's (``bounds``: the vehicles' first rows, then n)."""
    cuts = np.searchsorted(rows, bounds)
    return [rows[cuts[v] : cuts[v + 1]] for v in range(len(bounds) - 1)]
