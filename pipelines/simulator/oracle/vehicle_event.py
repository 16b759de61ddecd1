"""Reported events (disengagements, collisions ...) that a vehicle_event rule in force covers."""

from __future__ import annotations

from typing import Any

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.track import Finding
from pilotzone.zones.model import VehicleEventRule


def find(samples: SentSamples) -> Verdict:
    """One finding per event in a sent sample that a rule covers; instants, so never ambiguous."""
    model, track, t_ms = samples.model, samples.track, samples.t_ms
    found = []
    for k, reported in sorted(track.events.items()):
        if not track.sent[k]:
            continue
        row = int(np.searchsorted(samples.rows, k))
        for event, initiator in reported:
            w = model.winner(
                "vehicle_event",
                samples.area_sets[samples.set_of_row[row]],
                int(samples.state[row]),
                samples.vehicle_class,
                event=event,
                initiator=initiator,
            )
            if w is not None and isinstance(w.rule, VehicleEventRule):
                detail: dict[str, Any] = {"event": event, "initiated_by": initiator}
                if w.rule.report_within_h is not None:
                    detail["report_within_h"] = w.rule.report_within_h
                found.append(
                    Finding("vehicle_event", w.rule.id, w.area, int(t_ms[row]), int(t_ms[row]), detail)
                )
    return Verdict(found)
