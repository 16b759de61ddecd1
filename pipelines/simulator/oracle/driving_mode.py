"""Driving in a mode the rule in force does not allow, for longer than its grace."""

from __future__ import annotations

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.profiles import MODES
from pilotzone.zones.model import DrivingModeRule


def find(samples: SentSamples) -> Verdict:
    """Runs in a forbidden mode under one driving_mode rule that outlast its grace."""
    mode = samples.mode
    pos, area = samples.winners("driving_mode")
    # (rule position, mode code) -> allowed; the extra last row answers for "no rule".
    allowed = np.ones((len(samples.rules) + 1, len(MODES)), dtype=np.bool_)
    for i, r in enumerate(samples.rules):
        if isinstance(r, DrivingModeRule):
            allowed[i] = [m in r.allowed_modes for m in MODES]
    return samples.report(
        "driving_mode",
        ~allowed[pos, mode],
        pos,
        area,
        threshold=lambda r: r.grace_s,
        detail=lambda r, a, b: {
            "modes": sorted({MODES[m] for m in mode[a : b + 1]}),
            "allowed_modes": [m.value for m in r.allowed_modes],
            "grace_s": r.grace_s,
        },
    )
