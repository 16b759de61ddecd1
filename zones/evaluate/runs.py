"""Runs: how a condition held over consecutive fixes becomes an incident (module docstring of
``zones.evaluate``), chunk by chunk, with the same records however the fixes are chunked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pilotzone.zones.evaluate.chunk import Chunk
from pilotzone.zones.evaluate.records import EvaluationOutput, IncidentRecord
from pilotzone.zones.evaluate.writer import IncidentWriter
from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, IntArray, seconds

HOLD_S = 3.0
"""How long a condition must stay false before its run ends (GPS noise must not flap incidents)."""

UPDATE_RATIO = 1.1
"""An UPDATED record is emitted when the peak reaches this multiple of the last reported peak."""

HOLD_MS = int(HOLD_S * 1000)


@dataclass
class Run:
    """An open or pending run of one rule (see the module docstring)."""

    rule: int  # global rule number
    incident_id: str
    zone_pos: int
    start_ms: int
    latitude: float
    longitude: float
    area: str | None
    explanation: str
    operator_id: str
    vehicle_class: int
    detail: str
    last_true_ms: int
    peak: float = -math.inf
    first_false_ms: int | None = None
    opened: bool = False
    reported_peak: float = 0.0
    accounted_ms: int = 0


@dataclass
class Segment:
    """A run of one rule within a chunk.

    ``run`` is the run carried over from earlier chunks that this segment continues (None for
    a run starting here); ``rows`` are its violating rows here; ``end_ms`` is its end if this
    chunk shows it, else None, and then ``first_false_ms`` is the time of the first
    non-violating fix after its last violating one (None if the last fix violates).
    """

    run: Run | None
    rows: npt.NDArray[np.intp]
    end_ms: int | None
    first_false_ms: int | None


def segments_of(run: Run | None, condition: BoolArray, chunk: Chunk) -> list[Segment]:
    """Runs of one rule in this chunk (see ``Segment``), in time order; ``run`` is the rule's
    run carried over from earlier chunks, if any."""
    t, gap, gaps_before, c0 = chunk.cols.t, chunk.gap, chunk.gaps_before, chunk.c0
    m = len(t)
    true_rows = np.flatnonzero(condition)
    if true_rows.size == 0:
        assert run is not None
        if run.first_false_ms is None and gap[c0]:
            return [Segment(run, true_rows, run.last_true_ms, None)]
        pending = run.first_false_ms if run.first_false_ms is not None else int(t[c0])
        if gaps_before[-1] > 0 or int(t[-1]) >= pending + HOLD_MS:
            return [Segment(run, true_rows, pending, None)]
        return [Segment(run, true_rows, None, pending)]
    segments: list[Segment] = []
    join = np.zeros(true_rows.size, dtype=bool)
    if true_rows.size > 1:
        p, j = true_rows[:-1], true_rows[1:]
        join[1:] = (gaps_before[j] == gaps_before[p]) & ((j == p + 1) | (t[j] - t[p + 1] < HOLD_MS))
    if run is not None:
        j0 = int(true_rows[0])
        carried_false = run.first_false_ms
        if carried_false is None and j0 > c0:
            carried_false = int(t[c0])
        join[0] = gaps_before[j0] == 0 and (carried_false is None or int(t[j0]) - carried_false < HOLD_MS)
        if not join[0]:
            if run.first_false_ms is not None:
                end = run.first_false_ms
            elif gap[c0]:
                end = run.last_true_ms
            else:
                end = int(t[c0])
            segments.append(Segment(run, true_rows[:0], end, None))
    edges = np.flatnonzero(~join).tolist()
    if join[0]:
        edges = [0, *edges]
    edges.append(true_rows.size)
    for k in range(len(edges) - 1):
        rows = true_rows[edges[k] : edges[k + 1]]
        last = int(rows[-1])
        first_false: int | None = None
        end_ms: int | None
        if last == m - 1:
            end_ms = None
        elif gap[last + 1]:
            end_ms = int(t[last])
        elif k < len(edges) - 2 or gaps_before[-1] > gaps_before[last + 1] or t[-1] >= t[last + 1] + HOLD_MS:
            end_ms = int(t[last + 1])
        else:
            end_ms, first_false = None, int(t[last + 1])
        segments.append(Segment(run if (k == 0 and join[0]) else None, rows, end_ms, first_false))
    return segments


class RunTracker:
    """Advances one vehicle's runs through a chunk, emitting records at data-defined points.

    ``runs`` (global rule number -> its open or pending run) is the evaluator's state; the
    tracker only works on it for the length of one chunk.
    """

    def __init__(self, runs: dict[int, Run], writer: IncidentWriter, chunk: Chunk, fixes: Fixes) -> None:
        self.runs = runs
        self.writer = writer
        self.plan = writer.plan
        self.chunk = chunk
        self.fixes = fixes

    def advance(self, r: int, condition: BoolArray, values: FloatArray | None) -> None:
        """Take rule ``r`` through the chunk given where its condition holds (and the values
        whose maximum is its peak, None for a peak in seconds)."""
        for segment in segments_of(self.runs.get(r), condition, self.chunk):
            self._apply_segment(r, segment, values)

    def _new_run(self, r: int, row: int) -> Run:
        ref = self.plan.rules[r]
        cols = self.chunk.cols
        _, info = self.chunk.info(row)
        start = int(cols.t[row])
        return Run(
            rule=r,
            incident_id=self.writer.incident_id(ref, start),
            zone_pos=ref.zone_pos,
            start_ms=start,
            latitude=float(cols.lat[row]),
            longitude=float(cols.lon[row]),
            area=info.area[ref.local],
            explanation=info.explanation[ref.local],
            operator_id=str(cols.op[row]),
            vehicle_class=int(cols.cls[row]),
            detail=ref.kind.detail(ref.rule, self.plan.prepared(ref), self.fixes, row),
            last_true_ms=start,
            accounted_ms=start,
        )

    def _account(self, run: Run, until_ms: int) -> None:
        """Add the run's violation time from what is already counted up to ``until_ms``."""
        rule_id = self.plan.rules[run.rule].rule.id
        self.writer.windows.add_violation(
            run.zone_pos, run.operator_id, run.vehicle_class, rule_id, run.accounted_ms, until_ms
        )
        run.accounted_ms = max(run.accounted_ms, until_ms)

    def _apply_segment(self, r: int, segment: Segment, values: FloatArray | None) -> None:
        """Advance one run through its violating rows, emitting records at data-defined points."""
        ref = self.plan.rules[r]
        rule = ref.rule
        rows = segment.rows
        run = segment.run if segment.run is not None else self._new_run(r, int(rows[0]))
        out = self.chunk.out
        if rows.size:
            times = self.chunk.cols.t[rows]
            run.last_true_ms = int(times[-1])
            segment_values = values[rows] if values is not None else None
            checked = rows.size
            if not run.opened:
                side: Any = "right" if ref.kind.grace_exclusive else "left"
                k = int(np.searchsorted(times, run.start_ms + ref.kind.grace_ms(rule), side=side))
                if segment_values is not None:
                    run.peak = max(run.peak, float(segment_values[: k + 1].max()))
                if k < rows.size:
                    peak = run.peak if segment_values is not None else (int(times[k]) - run.start_ms) / 1000
                    run.opened = True
                    run.reported_peak = peak
                    out.incidents.append(
                        run_record(self.writer, run, "OPENED", end_ms=None, peak=peak, at_ms=int(times[k]))
                    )
                    self.writer.count_opened(
                        run.zone_pos, run.operator_id, run.vehicle_class, run.start_ms, rule
                    )
                    checked = k + 1
            elif segment_values is not None:
                checked = 0
            if run.opened and segment_values is not None and checked < rows.size:
                self._updates(run, segment_values[checked:], times[checked:], out)
            if run.opened:
                self._account(run, run.last_true_ms)
        if segment.end_ms is not None:
            if run.opened:
                self._account(run, segment.end_ms)
                peak = run.peak if values is not None else (segment.end_ms - run.start_ms) / 1000
                out.incidents.append(
                    run_record(
                        self.writer, run, "CLOSED", end_ms=segment.end_ms, peak=peak, at_ms=segment.end_ms
                    )
                )
            self.runs.pop(r, None)
        else:
            run.first_false_ms = segment.first_false_ms
            self.runs[r] = run

    def _updates(self, run: Run, values: FloatArray, times: IntArray, out: EvaluationOutput) -> None:
        """UPDATED records wherever the running peak reaches ``UPDATE_RATIO`` x the last reported."""
        running_peak = np.maximum(np.maximum.accumulate(values), run.peak)
        position = 0
        while True:
            reported = run.reported_peak
            rest = running_peak[position:]
            if reported > 0:
                step = int(np.searchsorted(rest, reported * UPDATE_RATIO, side="left"))
            else:
                step = int(np.searchsorted(rest, reported, side="right"))
            position += step
            if position >= len(running_peak):
                break
            run.reported_peak = float(running_peak[position])
            out.incidents.append(
                run_record(
                    self.writer,
                    run,
                    "UPDATED",
                    end_ms=None,
                    peak=run.reported_peak,
                    at_ms=int(times[position]),
                )
            )
            position += 1
        run.peak = max(run.peak, float(running_peak[-1]))


def run_record(
    writer: IncidentWriter, run: Run, status: str, *, end_ms: int | None, peak: float, at_ms: int
) -> IncidentRecord:
    """A lifecycle record of ``run`` as observed up to ``at_ms`` (its duration in the explanation)."""
    ref = writer.plan.rules[run.rule]
    observed = ref.kind.observed(
        ref.rule, area=run.area, detail=run.detail, peak=peak, duration=seconds(at_ms - run.start_ms)
    )
    return writer.record(
        status,
        ref,
        start_ms=run.start_ms,
        end_ms=end_ms,
        peak=peak,
        place=(run.longitude, run.latitude),
        area=run.area,
        operator=run.operator_id,
        vehicle_class=run.vehicle_class,
        explanation=f"{observed} where {run.explanation}",
        observed_until_ms=at_ms,
    )


def still_open(writer: IncidentWriter, runs: dict[int, Run]) -> list[IncidentRecord]:
    """At the end of input: an UPDATED record per incident still open, as far as the data went.

    Without it an open incident would keep the figures of its OPENED record (a dwell of 301 s
    where the vehicle had stood 423 s by its last fix, a permit breach "for 0 s"), while the
    window summaries count its violation time up to its last violating fix. This record says
    the same as the summaries: duration and peak up to the run's last violating fix; the end
    stays unknown (``end_ms`` None).
    """
    records = []
    for r in sorted(runs):
        run = runs[r]
        if not run.opened:
            continue
        ref = writer.plan.rules[r]
        seconds_held = (run.last_true_ms - run.start_ms) / 1000
        peak = seconds_held if ref.kind.peak_unit == "s" else run.peak
        records.append(run_record(writer, run, "UPDATED", end_ms=None, peak=peak, at_ms=run.last_true_ms))
    return records


def closed_at_change(
    writer: IncidentWriter, runs: dict[int, Run], at_ms: int, *, at_gap: bool
) -> list[IncidentRecord]:
    """The zone's config version changes at ``at_ms``: a CLOSED record for every open incident.

    A run whose condition was already false (within ``HOLD_S``) ends where it went false. Any
    other ends at the change, or, when a telemetry gap spans the change (``at_gap``), where a
    gap ends a run: at its last violating fix. A pending run (grace not reached) leaves no
    trace, as a run cut by a gap does. Violation time is counted up to the end, so the window
    summaries agree with the records. ``runs`` is emptied: the next version judges afresh.
    """
    records = []
    for r in sorted(runs):
        run = runs[r]
        if not run.opened:
            continue
        ref = writer.plan.rules[r]
        if run.first_false_ms is not None:
            end = min(at_ms, run.first_false_ms)
        else:
            end = run.last_true_ms if at_gap else at_ms
        writer.windows.add_violation(
            run.zone_pos, run.operator_id, run.vehicle_class, ref.rule.id, run.accounted_ms, end
        )
        run.accounted_ms = max(run.accounted_ms, end)
        peak = (end - run.start_ms) / 1000 if ref.kind.peak_unit == "s" else run.peak
        records.append(run_record(writer, run, "CLOSED", end_ms=end, peak=peak, at_ms=end))
    runs.clear()
    return records
