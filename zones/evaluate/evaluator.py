"""``VehicleEvaluator``: all rule state of one vehicle, fed its samples chunk by chunk.

It keeps the per-vehicle state (last fix, open runs, stop states, recent sequence numbers,
window partials) and, per chunk, wires its parts together: the chunk's columns and groups,
gaps, window partials, each kind's condition through its runs, crossings and reported events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pilotzone.zones.evaluate.chunk import (
    Chunk,
    LastFix,
    columns,
    groups_of,
    metres_outside,
    minute_of_week,
    summarise,
)
from pilotzone.zones.evaluate.crossings import crossings
from pilotzone.zones.evaluate.events import event_incidents
from pilotzone.zones.evaluate.gaps import gap_closed, gap_incidents, gap_opened
from pilotzone.zones.evaluate.records import EvaluationOutput, IncidentRecord
from pilotzone.zones.evaluate.runs import HOLD_MS, Run, RunTracker, closed_at_change, still_open
from pilotzone.zones.evaluate.summaries import Windows, WindowSummary
from pilotzone.zones.evaluate.tables import Plan, plan_for
from pilotzone.zones.evaluate.writer import IncidentWriter
from pilotzone.zones.evaluate.zoning import ZonedBatch
from pilotzone.zones.kinds.base import BoolArray, IntArray
from pilotzone.zones.kinds.dwell import stop_states
from pilotzone.zones.zone import Zone

DUPLICATE_HORIZON_S = 300.0
"""Sequence numbers are remembered for this long (event time) to recognise duplicates."""

_DUPLICATE_MS = int(DUPLICATE_HORIZON_S * 1000)


class VehicleEvaluator:
    """All rule state of ONE vehicle. Picklable (it lives in Beam state between bundles).

    Feed it the vehicle's samples in (time, sequence number) order, in chunks of any size,
    each starting no earlier than the previous chunk's last sample and the last ``advance``.
    """

    def __init__(self, zones: Sequence[Zone], vehicle_id: str, window_s: int = 60) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.zones = list(zones)
        self.vehicle_id = vehicle_id
        self.window_ms = int(window_s) * 1000
        self._frontier: int | None = None
        self._last: LastFix | None = None
        self._last_inside_zone = -1
        self._gap_open = False
        self._runs: dict[int, Run] = {}
        self._stopped: dict[float, bool] = {}
        self._recent_seq = np.zeros(0, dtype=np.int64)
        self._recent_t = np.zeros(0, dtype=np.int64)
        self._windows = Windows(self.window_ms)
        self._plan_cache: Plan | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The plan holds derived tables; the zones themselves travel and rebuild it.
        state = dict(self.__dict__)
        state["_plan_cache"] = None
        return state

    @property
    def _plan(self) -> Plan:
        if self._plan_cache is None:
            self._plan_cache = plan_for(tuple(self.zones))
        return self._plan_cache

    def _writer(self) -> IncidentWriter:
        return IncidentWriter(self._plan, self.vehicle_id, self._windows)

    # --- public API --------------------------------------------------------------------

    def process(self, zoned: ZonedBatch) -> EvaluationOutput:
        """Evaluate the next chunk of this vehicle's samples."""
        out = EvaluationOutput()
        batch = zoned.batch
        n = len(batch)
        if n == 0:
            return out
        t = batch.time_ms
        if (self._frontier is not None and int(t[0]) < self._frontier) or (
            n > 1 and bool((t[1:] < t[:-1]).any())
        ):
            raise ValueError(
                f"samples of {self.vehicle_id} must come in time order, none before {self._frontier}: "
                "sort each chunk and do not pass samples older than the last chunk or advance()"
            )
        duplicate = self._duplicates(batch.sequence_number, t)
        fresh = np.flatnonzero(~duplicate)
        vehicle_zone = self._vehicle_zones(zoned, fresh)
        placed = fresh[vehicle_zone >= 0]
        out.duplicates = np.flatnonzero(duplicate)
        out.unplaced = fresh[vehicle_zone < 0]
        self._frontier = int(t[-1]) if self._frontier is None else max(self._frontier, int(t[-1]))
        if placed.size:
            self._evaluate(zoned, placed, vehicle_zone[vehicle_zone >= 0], out)
        out.summaries = self._emit_windows(final=False)
        return out

    def advance(self, watermark_ms: int) -> EvaluationOutput:
        """Event time has reached ``watermark_ms`` and no further sample came before it.

        Opens a telemetry gap the silence has already made certain, and emits the window
        summaries nothing can change any more. Runs are not closed here: their end is only
        known from later fixes.
        """
        out = EvaluationOutput()
        watermark_ms = int(watermark_ms)
        if self._frontier is not None and watermark_ms <= self._frontier:
            return out
        self._frontier = watermark_ms
        last = self._last
        if last is not None and not self._gap_open and watermark_ms - last.time_ms > last.gap_ms:
            self._gap_open = True
            if last.gap_rule >= 0:
                out.incidents.append(gap_opened(self._writer(), last))
        out.summaries = self._emit_windows(final=False)
        return out

    def finish(self) -> EvaluationOutput:
        """End of input: every remaining window summary, and an UPDATED record with the
        duration and peak up to the last violating fix for each incident still open (which
        stays open: its end is unknown)."""
        incidents = still_open(self._writer(), self._runs) if self._runs else []
        return EvaluationOutput(incidents=incidents, summaries=self._emit_windows(final=True))

    def end_version(self, at_ms: int, next_fix_ms: int) -> EvaluationOutput:
        """The config version this evaluator judges by stops at ``at_ms`` (``zones.history``);
        the vehicle's next fix, under the next version, is at ``next_fix_ms``.

        Call after ``advance(at_ms)``. A silence from the last fix to ``next_fix_ms`` longer
        than this version's gap threshold is this version's gap, CLOSED at that next fix (as
        if the version still held: the silence began under it), and it ends every open run as
        a gap does. Otherwise every open incident is CLOSED at the change. Every window
        summary is emitted; the evaluator is spent.
        """
        writer = self._writer()
        last = self._last
        gap = last is not None and next_fix_ms - last.time_ms > last.gap_ms
        incidents: list[IncidentRecord] = []
        if gap and last is not None and last.gap_rule >= 0:
            if not self._gap_open:
                incidents.append(gap_opened(writer, last))
            incidents.append(gap_closed(writer, last, next_fix_ms))
        incidents.extend(closed_at_change(writer, self._runs, at_ms, at_gap=gap))
        self._gap_open = False
        return EvaluationOutput(incidents=incidents, summaries=self._emit_windows(final=True))

    # --- bookkeeping ---------------------------------------------------------------------

    def _duplicates(self, seq: IntArray, t: IntArray) -> BoolArray:
        """Samples whose sequence number was already sent within the horizon; updates memory."""
        n = len(seq)
        duplicate = np.zeros(n, dtype=bool)
        increasing = n < 2 or bool((seq[1:] > seq[:-1]).all())
        if not increasing:
            order = np.lexsort((np.arange(n), seq))
            s, times = seq[order], t[order]
            repeat = np.zeros(n, dtype=bool)
            repeat[1:] = (s[1:] == s[:-1]) & (times[1:] - times[:-1] <= _DUPLICATE_MS)
            duplicate[order] = repeat
        known, known_t = self._recent_seq, self._recent_t
        if known.size and int(seq.min()) <= int(known[-1]):
            at = np.minimum(np.searchsorted(known, seq), known.size - 1)
            duplicate |= (known[at] == seq) & (t - known_t[at] <= _DUPLICATE_MS)
        if increasing and (known.size == 0 or int(seq[0]) > int(known[-1])):
            all_seq, all_t = np.concatenate([known, seq]), np.concatenate([known_t, t])
        else:
            merged_seq, merged_t = np.concatenate([known, seq]), np.concatenate([known_t, t])
            order = np.lexsort((merged_t, merged_seq))
            merged_seq, merged_t = merged_seq[order], merged_t[order]
            latest = np.ones(len(merged_seq), dtype=bool)
            latest[:-1] = merged_seq[1:] != merged_seq[:-1]
            all_seq, all_t = merged_seq[latest], merged_t[latest]
        keep = all_t >= int(t[-1]) - _DUPLICATE_MS
        self._recent_seq, self._recent_t = all_seq[keep], all_t[keep]
        return duplicate

    def _vehicle_zones(self, zoned: ZonedBatch, rows: npt.NDArray[np.intp]) -> IntArray:
        """Per row in ``rows``: the vehicle's zone (module docstring), -1 if unplaced."""
        if rows.size == 0:
            return np.zeros(0, dtype=np.int64)
        zone = zoned.zone[rows].astype(np.int64)
        seen = np.maximum.accumulate(np.where(zone >= 0, np.arange(len(zone)), -1))
        vehicle_zone = np.where(seen >= 0, zone[np.maximum(seen, 0)], self._last_inside_zone)
        if seen[-1] >= 0:
            self._last_inside_zone = int(zone[seen[-1]])
        missing = np.flatnonzero(vehicle_zone < 0)
        if missing.size:
            operators = zoned.batch.operator_id[rows[missing]]
            lookup = self._plan.operator_zone
            if bool((operators == operators[0]).all()):
                vehicle_zone[missing] = lookup.get(operators[0], -1)
            else:
                vehicle_zone[missing] = [lookup.get(op, -1) for op in operators]
        return vehicle_zone

    def _safe_until(self) -> int:
        """Event time before which nothing can change any window any more."""
        assert self._frontier is not None
        safe = self._frontier
        last = self._last
        gap_decided = last is None or self._gap_open or self._frontier - last.time_ms > last.gap_ms
        if last is not None and not gap_decided:
            # The next fix may reveal a gap or a crossing that starts at the last fix.
            safe = min(safe, last.time_ms)
        for run in self._runs.values():
            if run.opened:
                safe = min(safe, run.accounted_ms)
            elif not (
                gap_decided
                or (run.first_false_ms is not None and self._frontier >= run.first_false_ms + HOLD_MS)
            ):
                safe = min(safe, run.start_ms)
        return safe

    def _emit_windows(self, *, final: bool) -> list[WindowSummary]:
        if not self._windows:
            return []
        if final:
            safe = None
        else:
            if self._frontier is None:
                return []
            safe = self._safe_until()
        return self._windows.pop([(zone.zone_id, zone.version) for zone in self.zones], self.vehicle_id, safe)

    # --- one chunk -----------------------------------------------------------------------

    def _evaluate(
        self, zoned: ZonedBatch, rows: npt.NDArray[np.intp], vehicle_zone: IntArray, out: EvaluationOutput
    ) -> None:
        plan = self._plan
        writer = self._writer()
        cols = columns(zoned, rows, vehicle_zone, self._last, plan)
        m = len(cols.t)
        minute = minute_of_week(cols.t, cols.vz, plan)
        groups, ginv = groups_of(cols, minute, plan)
        # A gap: an interval longer than the gap threshold in force at its earlier fix.
        gap_ms = np.array([info.gap_ms for _, info in groups], dtype=np.int64)[ginv]
        dt_ms = np.diff(cols.t)
        gap = np.zeros(m, dtype=bool)
        gap[1:] = dt_ms > gap_ms[:-1]
        chunk = Chunk(
            zoned=zoned,
            rows=rows,
            cols=cols,
            c0=0 if self._last is None else 1,
            minute=minute,
            groups=groups,
            ginv=ginv,
            gap=gap,
            gaps_before=np.cumsum(gap),
            in_rule_area=np.zeros((len(groups), len(plan.rules)), dtype=bool),
            out=out,
        )
        gap_incidents(chunk, writer, self._last, self._gap_open)
        self._gap_open = False
        summarise(chunk, dt_ms, self._windows)
        stopped = stop_states(cols.speed, plan.stop_thresholds, self._stopped if chunk.c0 else None)
        fixes = cols.fixes(minute, stopped, lambda: metres_outside(cols, plan))

        in_force = np.zeros((len(groups), len(plan.rules)), dtype=bool)
        for g, (zone_pos, info) in enumerate(groups):
            first = plan.first_rule[zone_pos]
            in_force[g, first : first + len(info.in_force)] = info.in_force
            chunk.in_rule_area[g, first : first + len(info.in_force)] = info.in_rule_area
        rules_to_run = sorted(set(np.flatnonzero(in_force.any(axis=0)).tolist()) | set(self._runs))
        tracker = RunTracker(self._runs, writer, chunk, fixes)
        for r in rules_to_run:
            ref = plan.rules[r]
            applies = in_force[ginv, r]
            applies[: chunk.c0] = False
            holds, values = ref.kind.condition(ref.rule, plan.prepared(ref), fixes)
            condition = applies & holds
            if r not in self._runs and not condition.any():
                continue
            tracker.advance(r, condition, values)

        crossings(chunk, writer)
        event_incidents(chunk, writer)
        row = m - 1
        self._last = chunk.last_fix(row, plan)
        self._stopped = {low: bool(states[row]) for low, states in stopped.items()}
