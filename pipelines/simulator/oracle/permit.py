"""A vehicle its operator holds no permit for: one finding over all of its samples."""

from __future__ import annotations

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.track import Finding


def find(samples: SentSamples) -> Verdict:
    """Per zone-wide permit rule that covers the class, from its first to its last sample.

    Permits are checked once per vehicle, so a grace period has no meaning and nothing is
    ever too close to call.
    """
    model, t_ms = samples.model, samples.t_ms
    identity = samples.track.identity
    operator = next((op for op in model.zone.config.operators if op.id == identity.operator_id), None)
    if operator is not None and identity.vehicle_class in operator.vehicle_classes:
        return Verdict([])
    reason = "operator has no permit" if operator is None else "class not permitted for operator"
    found = []
    for rule in model.zone.rules_of_kind("permit"):
        if rule.applies.areas is not None:
            continue
        applies = samples.applies(rule)
        if applies.any():
            rows = np.flatnonzero(applies)
            found.append(
                Finding("permit", rule.id, None, int(t_ms[rows[0]]), int(t_ms[rows[-1]]), {"reason": reason})
            )
    return Verdict(found)
