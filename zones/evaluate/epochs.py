"""One vehicle judged across config versions: a ``VehicleEvaluator`` per epoch of the history.

``zones.history`` cuts event time into epochs, each with the zone versions in force. A
vehicle's samples of one epoch go to a ``VehicleEvaluator`` of that epoch's zones; when the
vehicle's first sample of a later epoch arrives, the earlier evaluator is advanced to the
change and ended there (``VehicleEvaluator.end_version``):

- an incident open at the change is CLOSED at the change, under the version that opened it
  (its ``config_version``); if the vehicle still violates, the new version opens a new
  incident at its first violating fix from the change on (after that rule's grace again);
- a telemetry gap that spans the change (a silence from the last fix before it to the first
  after it longer than the old version's threshold) belongs to the old version, which began
  it: CLOSED at that first fix, as without the change; it ends open runs as a gap does;
- a window that straddles the change gets one summary partial from each version, each
  naming its ``config_version``: the window's figures are the sum of both versions', and
  the interval between the last fix before the change and the first after it counts as
  driving time for neither (the new evaluator starts with no earlier fix). The vehicle is
  an active vehicle of the first version it drove under in that window only, so a reader
  that adds the versions' active vehicles (the metrics, the reports) counts it once, as it
  would without the change.

Only a sample switches epochs: ``advance`` past a change advances the current evaluator to
the change and no further. So the records depend on the samples alone, never on when the
watermark moved, and a stream gives the incidents of a replay of the same history.

A list of zones without changes gives a plain ``VehicleEvaluator`` (``vehicle_evaluator``),
so configs without dates are judged exactly as before.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from pilotzone.zones.evaluate.evaluator import VehicleEvaluator
from pilotzone.zones.evaluate.records import EvaluationOutput
from pilotzone.zones.evaluate.summaries import WindowSummary
from pilotzone.zones.evaluate.zoning import ZonedBatch
from pilotzone.zones.history import history_of
from pilotzone.zones.zone import Zone


class HistoryEvaluator:
    """All rule state of ONE vehicle under a config history; ``VehicleEvaluator``'s interface.

    Picklable. ``zones`` may be set to ``[]`` before pickling and back after, as the stream
    does for a ``VehicleEvaluator``: the epochs are rebuilt from the zones.
    """

    def __init__(self, zones: Sequence[Zone], vehicle_id: str, window_s: int = 60) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._zones = list(zones)
        self.vehicle_id = vehicle_id
        self.window_s = window_s
        self._epoch = -1
        self._current: VehicleEvaluator | None = None
        self._counted: dict[tuple[str, str, str, int], str] = {}
        """(zone, operator, class, window start) -> the version the vehicle counts under there."""

    @property
    def zones(self) -> list[Zone]:
        """Every zone version of the history."""
        return self._zones

    @zones.setter
    def zones(self, zones: Sequence[Zone]) -> None:
        self._zones = list(zones)
        if self._current is not None:
            # A shallow copy of this evaluator shares the current one: never change it in place.
            current = copy.copy(self._current)
            current.zones = list(history_of(self._zones).epochs[self._epoch].zones) if self._zones else []
            self._current = current

    def process(self, zoned: ZonedBatch) -> EvaluationOutput:
        """Evaluate the next chunk of this vehicle's samples (time order, as for ``VehicleEvaluator``)."""
        out = EvaluationOutput()
        n = len(zoned)
        if n == 0:
            return out
        epoch = history_of(self._zones).epoch_index(zoned.batch.time_ms)
        if self._epoch >= 0 and int(epoch[0]) < self._epoch:
            raise ValueError(
                f"samples of {self.vehicle_id} must come in time order: a sample of an earlier config "
                "version came after one of a later version"
            )
        edges = [0, *(np.flatnonzero(epoch[1:] != epoch[:-1]) + 1).tolist(), n]
        for start, stop in itertools.pairwise(edges):
            index = int(epoch[start])
            if index != self._epoch:
                _extend(out, self._switch(index, int(zoned.batch.time_ms[start])), 0)
            rows = np.arange(start, stop)
            part = zoned if (start, stop) == (0, n) else zoned.take(rows)
            if self._zones_now():
                assert self._current is not None
                _extend(out, self._count_once(self._current.process(part)), start)
            else:
                out.unplaced = np.concatenate([out.unplaced, rows]).astype(np.intp)
        return out

    def advance(self, watermark_ms: int) -> EvaluationOutput:
        """Event time has reached ``watermark_ms``: advance the current version, up to its end."""
        if self._current is None:
            return EvaluationOutput()
        end = history_of(self._zones).epochs[self._epoch].end_ms
        return self._count_once(self._current.advance(min(int(watermark_ms), end)))

    def finish(self) -> EvaluationOutput:
        """End of input (``VehicleEvaluator.finish`` of the current version)."""
        if self._current is None:
            return EvaluationOutput()
        return self._count_once(self._current.finish())

    def _count_once(self, out: EvaluationOutput) -> EvaluationOutput:
        """Keep the vehicle among the active vehicles of one version's partial per window
        (module docstring): the first version's; later versions' partials of that window
        leave it out. ``out`` comes from the current epoch's evaluator."""
        end = history_of(self._zones).epochs[self._epoch].end_ms
        window_ms = self.window_s * 1000
        for i, summary in enumerate(out.summaries):
            if not summary.vehicle_ids:
                continue
            key = (summary.pilot_zone, summary.operator_id, summary.vehicle_class, summary.window_start_ms)
            counted = self._counted.get(key)
            if counted is not None and counted != summary.config_version:
                out.summaries[i] = _without_vehicle(summary)
            elif summary.window_start_ms + window_ms > end:
                # Only a window the epoch's end cuts can get a later version's partial: the
                # state stays as small as the number of changes within one window.
                self._counted[key] = summary.config_version
        return out

    def _zones_now(self) -> bool:
        return bool(history_of(self._zones).epochs[self._epoch].zones)

    def _switch(self, index: int, first_ms: int) -> EvaluationOutput:
        """End the current version at its change and judge by epoch ``index`` from the
        vehicle's fix at ``first_ms`` on."""
        history = history_of(self._zones)
        out = EvaluationOutput()
        if self._current is not None:
            change = history.epochs[self._epoch].end_ms
            _extend(out, self._count_once(self._current.advance(change)), 0)
            _extend(out, self._count_once(self._current.end_version(change, first_ms)), 0)
            change_window = change - change % (self.window_s * 1000)
            # Windows that ended before the change get no partial of a later version.
            self._counted = {key: v for key, v in self._counted.items() if key[3] >= change_window}
        self._epoch = index
        zones = history.epochs[index].zones
        self._current = VehicleEvaluator(zones, self.vehicle_id, self.window_s) if zones else None
        return out


def _without_vehicle(summary: WindowSummary) -> WindowSummary:
    return dataclasses.replace(summary, vehicle_ids=frozenset())


def _extend(out: EvaluationOutput, more: EvaluationOutput, row_offset: int) -> None:
    """Add ``more`` (whose rows start at ``row_offset`` of ``out``'s batch) to ``out``."""
    out.incidents.extend(more.incidents)
    out.summaries.extend(more.summaries)
    if len(more.duplicates):
        out.duplicates = np.concatenate([out.duplicates, more.duplicates + row_offset]).astype(np.intp)
    if len(more.unplaced):
        out.unplaced = np.concatenate([out.unplaced, more.unplaced + row_offset]).astype(np.intp)


def vehicle_evaluator(
    zones: Sequence[Zone], vehicle_id: str, window_s: int = 60
) -> VehicleEvaluator | HistoryEvaluator:
    """The evaluator for one vehicle: a ``HistoryEvaluator`` when the rules change over time."""
    if history_of(zones).changes:
        return HistoryEvaluator(zones, vehicle_id, window_s)
    return VehicleEvaluator(zones, vehicle_id, window_s)


__all__ = ["HistoryEvaluator", "vehicle_evaluator"]
