"""Being outside the zone's boundary for longer than the rule's grace."""

from __future__ import annotations

import numpy as np
import shapely

from pilotzone.pipelines.simulator.oracle.samples import SentSamples, Verdict
from pilotzone.pipelines.simulator.track import FloatArray
from pilotzone.pipelines.simulator.zone_model import ZoneModel


def find(samples: SentSamples) -> Verdict:
    """Per leave_boundary rule that covers the class (and, if it names areas, where the sample
    is in one of them), runs outside the boundary."""
    model, lon, lat = samples.model, samples.lon, samples.lat
    verdict = Verdict([])
    rules = model.zone.rules_of_kind("leave_boundary")
    if not rules:
        return verdict
    outside = ~shapely.intersects_xy(model.boundary_ll, lon, lat)
    for rule in rules:
        scoped = np.ones(len(samples.rows), dtype=np.bool_)
        if rule.applies.areas is not None:
            scoped = samples.in_areas(rule.applies.areas)
        key = np.full(len(samples.rows), samples.rule_pos[id(rule)], dtype=np.int64)
        found = samples.report(
            "leave_boundary",
            outside & samples.applies(rule) & scoped,
            key,
            [None] * len(samples.rows),
            threshold=lambda r: r.grace_s,
            detail=lambda r, a, b: {
                "grace_s": r.grace_s,
                "max_distance_m": round(max_distance_outside(model, lon[a : b + 1], lat[a : b + 1]), 1),
            },
        )
        verdict.findings.extend(found.findings)
        verdict.ambiguous |= found.ambiguous
    return verdict


def max_distance_outside(model: ZoneModel, lon: FloatArray, lat: FloatArray) -> float:
    """How far (metres, in the zone's frame) the farthest of the points is from the boundary."""
    x, y = model.frame.to_local(lon, lat)
    return float(shapely.distance(model.boundary_local, shapely.points(x, y)).max())
