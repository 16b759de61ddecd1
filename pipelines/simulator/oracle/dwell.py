"""Standing still (below the rule's speed) for longer than the dwell limit in force."""

from __future__ import annotations

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.zones.model import DwellRule


def find(samples: SentSamples) -> Verdict:
    """Runs below the winning dwell rule's ``stopped_below_kmh`` that outlast ``max_dwell_s``."""
    t_ms = samples.t_ms
    pos, area = samples.winners("dwell")
    # Indexed by rule position; the extra last entry answers for "no rule" (position -1).
    below = np.array(
        [r.stopped_below_kmh if isinstance(r, DwellRule) else -np.inf for r in samples.rules] + [-np.inf]
    )
    return samples.report(
        "dwell",
        samples.speed < below[pos],
        pos,
        area,
        threshold=lambda r: r.max_dwell_s,
        detail=lambda r, a, b: {
            "dwell_s": (int(t_ms[b]) - int(t_ms[a])) / 1000.0,
            "max_dwell_s": r.max_dwell_s,
            "stopped_below_kmh": r.stopped_below_kmh,
        },
    )
