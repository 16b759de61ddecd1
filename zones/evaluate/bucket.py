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

Conditions are asked of each kind over many vehicles' fixes at once, split by operator (a
permit is per operator); this relies on a kind's condition being per fix, which every
kind's is (a dwell's stop state, the one sequential input, is computed here per vehicle).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pilotzone import geo
from pilotzone.schemas.batch import DRIVING_MODES, EVENT_KINDS, VEHICLE_CLASSES
from pilotzone.schemas.factorize import sorted_codes
from pilotzone.zones.evaluate.chunk import Chunk, Columns, columns, groups_of, metres_outside, minute_of_week
from pilotzone.zones.evaluate.crossings import crossing_hits, crossing_records
from pilotzone.zones.evaluate.evaluator import DUPLICATE_HORIZON_S
from pilotzone.zones.evaluate.events import event_records, wanted_events
from pilotzone.zones.evaluate.gaps import gap_closed, gap_opened
from pilotzone.zones.evaluate.records import EvaluationOutput, IncidentRecord
from pilotzone.zones.evaluate.runs import HOLD_MS, Run, RunTracker, still_open
from pilotzone.zones.evaluate.summaries import Windows, WindowSummary, sum_by_key
from pilotzone.zones.evaluate.tables import Plan, plan_for
from pilotzone.zones.evaluate.writer import IncidentWriter
from pilotzone.zones.evaluate.zoning import ZonedBatch
from pilotzone.zones.history import history_of
from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, IntArray
from pilotzone.zones.kinds.dwell import DWELL_RESUME_MARGIN_KMH
from pilotzone.zones.zone import Zone

SLICE_ROWS = 262_144
"""At most this many samples (or one vehicle) are evaluated at once: the whole-bucket columns
are several times the size of the samples, and a spilled replay's bucket can hold millions."""

_DUPLICATE_MS = int(DUPLICATE_HORIZON_S * 1000)
_DISENGAGEMENT = EVENT_KINDS.index("DISENGAGEMENT")
_REMOTE_TAKEOVER = EVENT_KINDS.index("REMOTE_TAKEOVER")


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
        partials = self._window_partials(chunk, dt_ms, owner, op_codes)
        outside: list[FloatArray] = []

        def metres() -> FloatArray:
            if not outside:
                outside.append(metres_outside(cols, plan))
            return outside[0]

        stopped = _stop_states(cols.speed, plan.stop_thresholds, first)
        fixes = Fixes(
            speed_kmh=cols.speed,
            accuracy_m=cols.accuracy,
            driving_mode=cols.mode,
            vehicle_class=cols.cls,
            operator_id=cols.op,
            minute_of_week=minute,
            stopped=stopped,
            metres_outside=metres,
        )
        placed_bounds = np.searchsorted(owner, np.arange(len(self.vehicles) + 1))

        # What each vehicle has to do in order, as positions in the placed rows. A rule's
        # condition is kept only for the vehicles whose runs of it need following.
        vehicle_of = owner.tolist()
        runs_of: dict[int, list[tuple[int, BoolArray, FloatArray | None]]] = {}
        for r, condition, values in _conditions(plan, fixes, in_force, ginv, op_codes):
            for v in _may_open(plan, r, condition, owner, cols.t, gaps_before).tolist():
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
        return BucketResult(results, self._summaries(partials))

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
            cols=Columns(
                t=cols.t[part],
                lon=cols.lon[part],
                lat=cols.lat[part],
                accuracy=cols.accuracy[part],
                speed=cols.speed[part],
                mode=cols.mode[part],
                cls=cols.cls[part],
                op=cols.op[part],
                zone=cols.zone[part],
                vz=cols.vz[part],
                offsets=cols.offsets[a : b + 1],
                codes=cols.codes,
            ),
            c0=0,
            minute=chunk.minute[part],
            groups=chunk.groups,
            ginv=chunk.ginv[part],
            gap=gap,
            gaps_before=np.cumsum(gap),
            in_rule_area=chunk.in_rule_area,
            out=out,
        )
        whole = fixes.metres_outside
        own_fixes = Fixes(
            speed_kmh=fixes.speed_kmh[part],
            accuracy_m=fixes.accuracy_m[part],
            driving_mode=fixes.driving_mode[part],
            vehicle_class=fixes.vehicle_class[part],
            operator_id=fixes.operator_id[part],
            minute_of_week=fixes.minute_of_week[part],
            stopped={low: states[part] for low, states in fixes.stopped.items()},
            metres_outside=lambda: whole()[part],
        )
        tracker = RunTracker(runs, writer, own, own_fixes)
        for r, condition, values in rules:
            tracker.advance(r, condition, values)

    # --- window summaries ---------------------------------------------------------------

    def _window_partials(
        self, chunk: Chunk, dt_ms: IntArray, owner: IntArray, op_codes: tuple[list[str], IntArray]
    ) -> dict[tuple[int, str, int, int], _Partial]:
        """Samples, observed time, distance by mode, events and vehicles per window key."""
        cols = chunk.cols
        m = len(cols.t)
        if m == 0:
            return {}
        observed = ~chunk.gap
        observed_ms = np.where(observed, dt_ms, 0)
        distance_mm = np.zeros(m, dtype=np.int64)
        if m > 1:
            metres = geo.haversine_m(cols.lon[:-1], cols.lat[:-1], cols.lon[1:], cols.lat[1:])
            distance_mm[1:] = np.where(observed[1:], np.rint(metres * 1000), 0).astype(np.int64)
        earlier_mode = np.zeros(m, dtype=np.int64)
        earlier_mode[1:] = cols.mode[:-1]
        operators, op_code = op_codes
        window = cols.t // self.window_ms
        key_of, unique, heads = _window_keys(owner, cols.vz, op_code, cols.cls.astype(np.int64), window)
        count = len(unique)
        samples = np.bincount(key_of, minlength=count)
        seconds = np.bincount(key_of, weights=observed_ms, minlength=count)
        modes = len(DRIVING_MODES)
        by_mode = np.bincount(key_of * modes + earlier_mode, weights=distance_mm, minlength=count * modes)
        by_mode = by_mode.reshape(count, modes)
        event_counts = np.zeros((2, count), dtype=np.int64)
        batch = chunk.zoned.batch
        if len(batch.event_row):
            position = np.full(len(batch), -1, dtype=np.int64)
            position[chunk.rows] = np.arange(m)
            event_position = position[batch.event_row]
            kept = event_position >= 0
            for k, code in enumerate((_DISENGAGEMENT, _REMOTE_TAKEOVER)):
                of_kind = kept & (batch.event_kind == code)
                np.add.at(event_counts[k], key_of[event_position[of_kind]], 1)
        vehicles_of: list[set[str]] = [set() for _ in range(count)]
        for k, v in zip(key_of[heads].tolist(), owner[heads].tolist(), strict=True):
            vehicles_of[k].add(self.vehicles[v])
        partials = {}
        for k, (zone_pos, op, cls, w) in enumerate(unique):
            partials[(zone_pos, operators[op], cls, w * self.window_ms)] = _Partial(
                samples=int(samples[k]),
                vehicle_ms=round(float(seconds[k])),
                distance_mm={mode: round(mm) for mode, mm in enumerate(by_mode[k].tolist()) if mm},
                disengagements=int(event_counts[0, k]),
                remote_takeovers=int(event_counts[1, k]),
                vehicle_ids=frozenset(vehicles_of[k]),
            )
        return partials

    def _summaries(self, partials: dict[tuple[int, str, int, int], _Partial]) -> list[WindowSummary]:
        """The partials and the incidents' violation time and counts, summed per key."""
        zones = self.plan.zones
        summaries = []
        for key in sorted(set(partials) | set(self.windows.open)):
            zone_pos, operator, cls, start = key
            part = partials.get(key, _Partial())
            acc = self.windows.open.get(key)
            summaries.append(
                WindowSummary(
                    pilot_zone=zones[zone_pos].zone_id,
                    config_version=zones[zone_pos].version,
                    operator_id=operator,
                    vehicle_class=VEHICLE_CLASSES[cls],
                    window_start_ms=start,
                    samples=part.samples,
                    vehicle_ids=part.vehicle_ids,
                    vehicle_seconds=part.vehicle_ms / 1000,
                    distance_m_by_mode={
                        DRIVING_MODES[mode]: mm / 1000 for mode, mm in sorted(part.distance_mm.items())
                    },
                    violation_s_by_rule={}
                    if acc is None
                    else {rule: ms / 1000 for rule, ms in sorted(acc.violation_ms.items())},
                    incidents_opened={} if acc is None else dict(sorted(acc.opened.items())),
                    disengagements=part.disengagements,
                    remote_takeovers=part.remote_takeovers,
                )
            )
        return sum_by_key(summaries)


@dataclass
class _Partial:
    """What the samples of one window key add up to over the bucket's vehicles."""

    samples: int = 0
    vehicle_ms: int = 0
    distance_mm: dict[int, int] = field(default_factory=dict)
    disengagements: int = 0
    remote_takeovers: int = 0
    vehicle_ids: frozenset[str] = frozenset()


def _window_keys(owner: IntArray, *columns: IntArray) -> tuple[IntArray, list[tuple[int, ...]], IntArray]:
    """Each row's position among the distinct rows of ``columns``, those rows in sorted
    order, and the first row of each stretch of one vehicle with equal columns.

    The columns change rarely along the sorted bucket (a vehicle's window, zone, class or
    operator), so only the stretches' first rows are looked at.
    """
    n = len(owner)
    same = owner[1:] == owner[:-1]
    for column in columns:
        same &= column[1:] == column[:-1]
    heads = np.concatenate([[0], np.flatnonzero(~same) + 1]) if n else np.zeros(0, dtype=np.int64)
    run_keys = list(zip(*(column[heads].tolist() for column in columns), strict=True))
    distinct = sorted(set(run_keys))
    position = {key: k for k, key in enumerate(distinct)}
    run_of = np.array([position[key] for key in run_keys], dtype=np.int64)
    key_of: IntArray = np.repeat(run_of, np.diff(np.append(heads, n)))
    return key_of, distinct, heads


def _split(rows: npt.NDArray[np.intp], bounds: IntArray) -> list[npt.NDArray[np.intp]]:
    """Sorted bucket rows cut into each vehicle's (``bounds``: the vehicles' first rows, then n)."""
    cuts = np.searchsorted(rows, bounds)
    return [rows[cuts[v] : cuts[v + 1]] for v in range(len(bounds) - 1)]


def _stop_states(speed: FloatArray, thresholds: Sequence[float], first: IntArray) -> dict[float, BoolArray]:
    """``kinds.dwell.stop_states`` of each vehicle's fixes, ``first``: each fix's vehicle's first."""
    states: dict[float, BoolArray] = {}
    index = np.arange(len(speed))
    for low in thresholds:
        stop = speed < low
        decisive = stop | (speed >= low + DWELL_RESUME_MARGIN_KMH)
        latest = np.maximum.accumulate(np.where(decisive, index, -1))
        states[low] = (latest >= first) & stop[np.maximum(latest, 0)]
    return states


def _conditions(
    plan: Plan, fixes: Fixes, in_force: BoolArray, ginv: IntArray, op_codes: tuple[list[str], IntArray]
) -> Iterator[tuple[int, BoolArray, FloatArray | None]]:
    """Per rule in force somewhere, in rule order, where it is violated (if anywhere) and its
    peak values, over all fixes.

    Each kind is asked once per operator among the fixes (its condition may look the operator
    up), on that operator's fixes: the fixes are put in operator order once, so that each
    operator's are one slice.
    """
    rules = np.flatnonzero(in_force.any(axis=0)).tolist() if len(ginv) else []
    if not rules:
        return
    operators, op_code = op_codes
    n = len(fixes)
    inverse: IntArray | None = None
    parts: list[tuple[slice, Fixes]] = [(slice(0, n), fixes)]
    if len(operators) > 1:
        order = np.argsort(op_code, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(n)
        in_order = _take(fixes, order)
        bounds = np.searchsorted(op_code[order], np.arange(len(operators) + 1)).tolist()
        parts = [(slice(a, b), _take(in_order, slice(a, b))) for a, b in itertools.pairwise(bounds)]
    for r in rules:
        ref = plan.rules[r]
        holds = np.empty(n, dtype=bool)
        values: FloatArray | None = None
        for part, subset in parts:
            part_holds, part_values = ref.kind.condition(ref.rule, plan.prepared(ref), subset)
            holds[part] = part_holds
            if part_values is not None:
                if values is None:
                    values = np.empty(n, dtype=np.float64)
                values[part] = part_values
        condition = in_force[:, r][ginv] & (holds if inverse is None else holds[inverse])
        if condition.any():
            yield r, condition, values if values is None or inverse is None else values[inverse]


def _may_open(  # noqa: PLR0917 - a rule's violations and the columns that cut them into runs
    plan: Plan, r: int, condition: BoolArray, owner: IntArray, t: IntArray, gaps_before: IntArray
) -> IntArray:
    """The vehicles with a run of rule ``r`` that lasts at least its grace.

    The runs are those ``runs.segments_of`` finds in a fresh evaluator's chunk (a gap, a
    change of vehicle, or ``HOLD_S`` without a violating fix ends one). A run shorter than
    the grace never becomes an incident, and leaves no record and no window figure, so only
    these vehicles need their runs of the rule tracked.
    """
    rows = np.flatnonzero(condition)
    p, j = rows[:-1], rows[1:]
    join = (
        (owner[j] == owner[p])
        & (gaps_before[j] == gaps_before[p])
        & ((j == p + 1) | (t[j] - t[np.minimum(p + 1, len(t) - 1)] < HOLD_MS))
    )
    firsts = np.flatnonzero(np.concatenate([[True], ~join]))
    lasts = np.concatenate([firsts[1:], [len(rows)]]) - 1
    ref = plan.rules[r]
    span = t[rows[lasts]] - t[rows[firsts]]
    may: IntArray = np.unique(owner[rows[firsts[span >= ref.kind.grace_ms(ref.rule)]]])
    return may


def _take(fixes: Fixes, rows: npt.NDArray[np.intp] | slice) -> Fixes:
    """The selected fixes (an index array, or a slice: views)."""
    whole = fixes.metres_outside
    return Fixes(
        speed_kmh=fixes.speed_kmh[rows],
        accuracy_m=fixes.accuracy_m[rows],
        driving_mode=fixes.driving_mode[rows],
        vehicle_class=fixes.vehicle_class[rows],
        operator_id=fixes.operator_id[rows],
        minute_of_week=fixes.minute_of_week[rows],
        stopped={low: states[rows] for low, states in fixes.stopped.items()},
        metres_outside=lambda: whole()[rows],
    )
