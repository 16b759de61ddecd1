"""Speeding: reported speed above the limit plus tolerance in force, for longer than its grace."""

from __future__ import annotations

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.zones.model import SpeedLimitRule


def find(samples: SentSamples) -> Verdict:
    """Runs above the winning speed limit (zone-wide or an area's) that outlast its grace."""
    speed = samples.speed
    pos, area = samples.winners("speed_limit")
    # Indexed by rule position; the extra last entry answers for "no rule" (position -1).
    limit = np.array(
        [r.limit_kmh + r.tolerance_kmh if isinstance(r, SpeedLimitRule) else np.inf for r in samples.rules]
        + [np.inf]
    )
    return samples.report(
        "speed_limit",
        speed > limit[pos],
        pos,
        area,
        threshold=lambda r: r.grace_s,
        detail=lambda r, a, b: {
            "peak_kmh": round(float(speed[a : b + 1].max()), 2),
            "limit_kmh": r.limit_kmh,
            "tolerance_kmh": r.tolerance_kmh,
            "grace_s": r.grace_s,
        },
    )
