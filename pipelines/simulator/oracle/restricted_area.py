"""Being inside a restricted area for longer than the rule's grace."""

from __future__ import annotations

import numpy as np

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.track import BoolArray
from pilotzone.pipelines.simulator.zone_model import ZoneModel


def find(samples: SentSamples) -> Verdict:
    """Per restricted_area rule that covers the class, runs inside any of its areas.

    Every such rule counts on its own (no precedence between them), as each names its areas.
    """
    model = samples.model
    verdict = Verdict([])
    for rule in model.zone.rules_of_kind("restricted_area"):
        columns = samples.area_columns(rule.applies.areas or [])
        inside = samples.membership[:, columns].any(axis=1) & samples.applies(rule)
        key = np.full(len(samples.rows), samples.rule_pos[id(rule)], dtype=np.int64)
        innermost = (
            [innermost_area(model, samples.membership[i], columns) for i in range(len(samples.rows))]
            if inside.any()
            else []
        )
        found = samples.report(
            "restricted_area",
            inside,
            key,
            innermost,
            threshold=lambda r: r.grace_s,
            detail=lambda r, a, b: {"grace_s": r.grace_s},
        )
        verdict.findings.extend(found.findings)
        verdict.ambiguous |= found.ambiguous
    return verdict


def innermost_area(model: ZoneModel, inside: BoolArray, columns: list[int]) -> str | None:
    """The smallest of the areas (``columns``) a sample is in: the one an incident names."""
    present = [model.area_ids[j] for j in columns if inside[j]]
    if not present:
        return None
    return min(present, key=lambda a: (model.zone.areas[a].area_m2, a))
