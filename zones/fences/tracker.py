"""Judging one vehicle's fixes against the emergency fences in force at their event times.

A fence is a time-bounded restricted area whose grace is ``exit_within_s`` for the vehicles
inside when it takes effect, and nothing for those who enter later:

* A vehicle is *inside at the start* when its last fix before ``effective_from`` is inside
  the polygon (or, with no earlier fix, its first fix in force is). Its deadline is
  ``effective_from + exit_within_s``. A fix still inside after the deadline (strictly) opens
  an incident that starts at the deadline, peak = seconds overdue at the latest inside fix.
* A fix inside after the vehicle was outside while the fence was in force opens an incident
  at that fix, peak = seconds since the entry at the latest inside fix.
* The incident is CLOSED at the first fix outside (``end_ms`` = that fix), or at the fence's
  ``until`` (or the start of its next version, ``zones.fences.versions``) when a later fix or
  the watermark (``advance``) passes it. Leaving and re-entering is a new incident.

Records follow the evaluator's lifecycle (``zones.evaluate.records``): ``OPENED`` with the
peak at opening, ``CLOSED`` with the final peak; ``finish`` is ``advance`` to the end of
time, so an incident of a fence that ends is closed at its end, and one of an open-ended
fence stays open with a last ``UPDATED`` record. Ids are the evaluator's ``incident_id`` over (pilot zone, ``fence:<id>``,
vehicle, start), and ``config_version`` is the fence's digest, so the same fixes and the
same fences give the same records however the fixes are cut into chunks.

Beside its records the tracker notes each stay inside a fence in force (``FenceSpan``,
``zones.fences.figures``), during the grace too, for the metrics: who is inside now and how
long leaving took. ``take_spans`` hands them out; the records do not depend on it.

Points on the polygon's edge count as inside (``intersects``, as for zone areas): a fence
is drawn with a margin, and a vehicle on its edge has not left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from pilotzone.schemas.batch import VEHICLE_CLASSES, TelemetryBatch
from pilotzone.zones.evaluate.records import IncidentRecord, incident_id, rfc3339_ms
from pilotzone.zones.fences.figures import FenceObservation, FenceProgress, FenceSpan
from pilotzone.zones.fences.model import FENCE_KIND, Fence
from pilotzone.zones.history import END_MS


@dataclass
class _Open:
    """An open fence incident of one vehicle."""

    incident_id: str
    start_ms: int
    overdue: bool
    latitude: float
    longitude: float
    explanation: str
    peak_s: float


@dataclass
class _State:
    """Where one vehicle stands with one fence."""

    last_inside_before: bool | None = None
    """Whether its last fix before the fence took effect was inside (None: no such fix)."""
    started: bool = False
    in_grace: bool = False
    ended: bool = False
    open: _Open | None = None
    inside_from: int | None = None
    """Start of its current stay inside the fence in force (None: not inside)."""


class VehicleFences:
    """One vehicle's standing with every fence; fed its fixes in time order, chunk by chunk."""

    def __init__(
        self, fences: Sequence[Fence], vehicle_id: str, vehicle_class: str, operator_id: str
    ) -> None:
        self.vehicle_id = vehicle_id
        self.operator_id = operator_id
        self.vehicle_class = vehicle_class
        # A fence that does not bind the vehicle's class is not looked at at all.
        self.fences = [fence for fence in fences if vehicle_class in fence.document.vehicle_classes]
        self._states = [_State() for _ in self.fences]
        self._spans: list[FenceSpan] = []

    def update(self, fences: Sequence[Fence]) -> None:
        """Judge the vehicle's later fixes against ``fences``: the known ones (by digest) with
        their possibly earlier ends (a later version supersedes them, ``zones.fences.versions``)
        and the new ones (published while it drives) too.

        Fixes already judged are not judged again: a fence reaches a stream's vehicles with
        the watermark (``pipelines.transforms.fences``)."""
        position = {known.digest: index for index, known in enumerate(self.fences)}
        for fence in fences:
            if self.vehicle_class not in fence.document.vehicle_classes:
                continue
            index = position.get(fence.digest)
            if index is None:
                self.fences.append(fence)
                self._states.append(_State())
            else:
                self.fences[index] = fence

    def take_spans(self) -> list[FenceSpan]:
        """The stays opened or closed since the last call (a closed one supersedes its open one)."""
        spans, self._spans = self._spans, []
        return spans

    def process(
        self, times_ms: npt.NDArray[np.int64], lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> list[IncidentRecord]:
        """Records of the next fixes (time-ordered, later than every fix given before)."""
        records: list[IncidentRecord] = []
        for fence, state in zip(self.fences, self._states, strict=True):
            if state.ended:
                continue
            inside = shapely.intersects_xy(fence.geometry, lon, lat)
            # Only fixes from the last one before the start on change anything: a loop over
            # those, not over the vehicle's whole history.
            first = int(np.searchsorted(times_ms, fence.start_ms, side="left"))
            if first > 0:
                state.last_inside_before = bool(inside[first - 1])
            for row in range(first, len(times_ms)):
                t = int(times_ms[row])
                if t >= fence.end_ms:
                    records.extend(self._end(fence, state))
                    break
                place = (float(lon[row]), float(lat[row]))
                records.extend(self._fix(fence, state, t, bool(inside[row]), place))
        return records

    def advance(self, watermark_ms: int) -> list[IncidentRecord]:
        """Close the incidents of fences that ended (or were superseded) at or before
        ``watermark_ms`` (an open-ended fence never ends: its incidents stay open)."""
        records: list[IncidentRecord] = []
        for fence, state in zip(self.fences, self._states, strict=True):
            if not state.ended and fence.end_ms != END_MS and fence.end_ms <= watermark_ms:
                records.extend(self._end(fence, state))
        return records

    def finish(self) -> list[IncidentRecord]:
        """End of input: ``advance`` to the end of time; an incident still open (its fence is
        open-ended) gets an ``UPDATED`` record whose peak reaches its last inside fix, as the
        evaluator's open runs do."""
        records = self.advance(END_MS)
        for fence, state in zip(self.fences, self._states, strict=True):
            if state.open is not None:
                records.append(self._record(fence, state.open, "UPDATED", None))
        return records

    def _fix(
        self, fence: Fence, state: _State, t: int, inside: bool, place: tuple[float, float]
    ) -> list[IncidentRecord]:
        if not state.started:
            state.started = True
            at_start = state.last_inside_before if state.last_inside_before is not None else inside
            state.in_grace = at_start
            if at_start:
                state.inside_from = fence.start_ms
                self._note_stay(fence, state, t, inside)
        if inside != (state.inside_from is not None):
            if inside:
                state.inside_from = t
            self._note_stay(fence, state, t, inside)
        deadline = fence.start_ms + round(fence.document.exit_within_s * 1000)
        if state.open is not None:
            if inside:
                state.open.peak_s = (t - state.open.start_ms) / 1000
                return []
            return [self._close(fence, state, t)]
        if not inside:
            state.in_grace = False
            return []
        if state.in_grace:
            if t <= deadline:
                return []
            state.in_grace = False
            start, overdue = deadline, True
            explanation = (
                f"still inside emergency fence {fence.fence_id} {(t - deadline) / 1000:g} s after its exit "
                f"deadline ({fence.document.exit_within_s:g} s from {rfc3339_ms(fence.start_ms)}): "
                f"{fence.document.reason}"
            )
        else:
            start, overdue = t, False
            explanation = (
                f"entered emergency fence {fence.fence_id} after it took effect at "
                f"{rfc3339_ms(fence.start_ms)}: {fence.document.reason}"
            )
        state.open = _Open(
            incident_id(fence.document.pilot_zone, fence.rule_id, self.vehicle_id, start),
            start,
            overdue,
            place[1],
            place[0],
            explanation,
            (t - start) / 1000,
        )
        return [self._record(fence, state.open, "OPENED", None)]

    def _note_stay(self, fence: Fence, state: _State, t: int, inside: bool) -> None:
        """A stay opened (``inside``) or ended by the fix at ``t``, the first outside."""
        assert state.inside_from is not None
        self._spans.append(self._span(fence, state.inside_from, None if inside else t, exited=not inside))
        if not inside:
            state.inside_from = None

    def _span(self, fence: Fence, from_ms: int, until_ms: int | None, *, exited: bool) -> FenceSpan:
        return FenceSpan(
            self.vehicle_id,
            fence.document.pilot_zone,
            fence.fence_id,
            fence.digest,
            self.vehicle_class,
            self.operator_id,
            from_ms,
            until_ms,
            exited,
        )

    def _end(self, fence: Fence, state: _State) -> list[IncidentRecord]:
        state.ended = True
        if state.inside_from is not None:
            self._spans.append(self._span(fence, state.inside_from, fence.end_ms, exited=False))
            state.inside_from = None
        if state.open is None:
            return []
        return [self._close(fence, state, fence.end_ms)]

    def _close(self, fence: Fence, state: _State, end_ms: int) -> IncidentRecord:
        assert state.open is not None
        record = self._record(fence, state.open, "CLOSED", end_ms)
        state.open = None
        return record

    def _record(self, fence: Fence, incident: _Open, status: str, end_ms: int | None) -> IncidentRecord:
        return IncidentRecord(
            incident_id=incident.incident_id,
            status=status,
            pilot_zone=fence.document.pilot_zone,
            area=fence.fence_id,
            rule_id=fence.rule_id,
            kind=FENCE_KIND,
            severity=fence.document.severity.value,
            vehicle_id=self.vehicle_id,
            operator_id=self.operator_id,
            start_ms=incident.start_ms,
            end_ms=end_ms,
            peak_value=incident.peak_s,
            latitude=incident.latitude,
            longitude=incident.longitude,
            config_version=fence.digest,
            report_deadline_ms=None,
            explanation=incident.explanation,
            vehicle_class=self.vehicle_class,
        )


def judge_series(
    fences: Sequence[Fence], vehicle_id: str, series: TelemetryBatch
) -> tuple[list[IncidentRecord], list[FenceObservation]]:
    """The fence records of one vehicle's whole time-ordered series, to the end of input, and
    the observations for the metrics: its stays, and its last fix as the progress made.

    The vehicle's class and operator are those of its first fix, as for its other incidents.
    """
    if not fences or len(series) == 0:
        return [], []
    vehicle_class = VEHICLE_CLASSES[int(series.vehicle_class[0])]
    tracker = VehicleFences(fences, vehicle_id, vehicle_class, str(series.operator_id[0]))
    records = tracker.process(series.time_ms, series.longitude, series.latitude)
    records += tracker.finish()
    observations: list[FenceObservation] = [*tracker.take_spans(), FenceProgress(int(series.time_ms[-1]))]
    return records, observations


def series_fence_records(
    fences: Sequence[Fence], vehicle_id: str, series: TelemetryBatch
) -> list[IncidentRecord]:
    """The fence records of ``judge_series``."""
    return judge_series(fences, vehicle_id, series)[0]


__all__ = ["VehicleFences", "judge_series", "series_fence_records"]
