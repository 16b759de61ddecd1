"""Silences longer than the telemetry_gap rule in force where the vehicle fell silent."""

from __future__ import annotations

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.track import Finding
from pilotzone.zones.model import TelemetryGapRule


def find(samples: SentSamples) -> Verdict:
    """Gaps between sent samples, and one that lasts to the end of the window, beyond the
    ``max_gap_s`` of the rule in force at the last sample before them."""
    model, rows, t_ms = samples.model, samples.rows, samples.t_ms
    gaps = np.diff(t_ms) / 1000.0
    verdict = Verdict([])
    candidates = [
        (int(i), float(gaps[i]), True, int(t_ms[i + 1])) for i in np.flatnonzero(gaps > 1.5 / model.rate)
    ]
    trailing = (model.end_ms - int(t_ms[-1])) / 1000.0
    if trailing > 1.5 / model.rate:
        candidates.append((len(rows) - 1, trailing, False, model.end_ms))
    for i, seconds, resumed, end_ms in candidates:
        w = model.winner(
            "telemetry_gap",
            samples.area_sets[samples.set_of_row[i]],
            int(samples.state[i]),
            samples.vehicle_class,
        )
        if w is None or not isinstance(w.rule, TelemetryGapRule):
            continue
        max_gap = w.rule.max_gap_s
        if abs(seconds - max_gap) <= samples.band:
            verdict.ambiguous = True
        if seconds > max_gap:
            skipped = int(rows[i + 1] - rows[i] - 1) if resumed else int(model.n - 1 - rows[i])
            verdict.findings.append(
                Finding(
                    "telemetry_gap",
                    w.rule.id,
                    w.area,
                    int(t_ms[i]),
                    end_ms,
                    {"gap_s": seconds, "max_gap_s": max_gap, "resumed": resumed, "samples_not_sent": skipped},
                )
            )
    return verdict
