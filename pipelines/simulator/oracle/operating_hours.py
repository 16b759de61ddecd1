"""Driving outside the permitted hours of the rule in force, for longer than its grace."""

from __future__ import annotations

import datetime as dt

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.zone_model import ZoneModel
from pilotzone.zones.model import OperatingHoursRule


def find(samples: SentSamples) -> Verdict:
    """Runs in minutes the winning operating_hours rule does not permit."""
    model, t_ms = samples.model, samples.t_ms
    pos, area = samples.winners("operating_hours")
    permitted = np.ones(len(samples.rows), dtype=np.bool_)
    for i, r in enumerate(samples.rules):
        if isinstance(r, OperatingHoursRule):
            mine = pos == i
            permitted[mine] = model.permitted_minutes(r)[samples.minute[mine]]
    return samples.report(
        "operating_hours",
        ~permitted,
        pos,
        area,
        threshold=lambda r: r.grace_s,
        detail=lambda r, a, b: {"local_start": local_iso(model, int(t_ms[a])), "grace_s": r.grace_s},
    )


def local_iso(model: ZoneModel, t_ms: int) -> str:
    """A time on the zone's own clock, to the second: how hours are written in its config."""
    return dt.datetime.fromtimestamp(t_ms / 1000.0, model.zone.config.tz).isoformat(timespec="seconds")
