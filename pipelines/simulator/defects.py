"""Contract defects, put into a vehicle's records the way real vehicles break the contract."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pilotzone.pipelines.simulator.options import DEFECT_KINDS
from pilotzone.pipelines.simulator.track import Finding, Track
from pilotzone.pipelines.simulator.writer import Record


def apply_defects(
    track: Track,
    records: list[Record],
    rng: np.random.Generator,
    findings: Sequence[Finding],
) -> list[Finding]:
    """Break the contract once in one of the ways vehicles do, away from any violation."""
    rows = np.flatnonzero(track.sent)
    protected = track.protected[rows].copy()
    for f in findings:
        protected |= (track.t_ms[rows] >= f.start_ms - 5000) & (track.t_ms[rows] <= f.end_ms + 5000)
    protected[:3] = True
    protected[-3:] = True
    choices = np.flatnonzero(~protected)
    if choices.size == 0:
        return []
    i = int(choices[int(rng.integers(choices.size))])
    defect = DEFECT_KINDS[int(rng.integers(len(DEFECT_KINDS)))]
    value = records[i].value
    t = int(value["current_location_timestamp"])
    detail: dict[str, Any] = {"defect": defect, "sequence_number": value["sequence_number"]}
    if defect == "nan":
        value["current_location_latitude"] = math.nan
        detail.update(field="current_location_latitude", value="NaN")
    elif defect == "out_of_range":
        name, bad = [
            ("current_location_latitude", 90.0 + float(rng.uniform(1, 9))),
            ("current_location_heading", 360.0 + float(rng.uniform(1, 300))),
            ("speed", -float(rng.uniform(1, 20))),
            ("current_location_horizontal_accuracy", -float(rng.uniform(1, 5))),
        ][int(rng.integers(4))]
        bad = round(bad, 1)
        value[name] = bad
        detail.update(field=name, value=bad)
    elif defect == "duplicate_sequence":
        records.insert(i + 1, Record(records[i].nominal_ms, dict(value)))
    else:
        previous = int(records[i - 1].value["current_location_timestamp"])
        value["current_location_timestamp"] = previous - int(rng.integers(100, 501))
        detail.update(reported_ms=value["current_location_timestamp"], expected_ms=t)
    return [Finding("defect", defect, None, t, t, detail)]
