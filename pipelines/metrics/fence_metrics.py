"""The emergency-fence families: vehicles inside a fence in force, fences in force, time to exit.

They are figures of what fence judging observed (``zones.fences.figures``), taken at the
event time judging has reached (``FenceFigures.reached_ms``: the last fix of a replay, the
watermark less the allowed lateness of a stream), never at the clock: a stream and a replay
of the same fixes export the same values, and a replay of last month reports last month.

Label sets: every (pilot zone, fence, operator, class) that ever had a vehicle inside keeps a
series, 0 once they have all left, so a fence emptying shows as 0 rather than as a series
that disappears; ``operator`` is the permit label (``labels``), never an id as sent. The time
to exit is a histogram with exact bucket counts (an exit is counted once, in every mode).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

from pilotzone.pipelines.metrics.catalog import FENCE_EXIT_BUCKETS_S
from pilotzone.pipelines.metrics.families import catalog_family
from pilotzone.pipelines.metrics.labels import OperatorLabels
from pilotzone.zones.fences.figures import FenceFigures, FenceLabels

FenceSeries = tuple[str, str, str, str]
"""Label values of a fence family's series: pilot zone, fence, operator label, vehicle class."""


def fence_series(labels: FenceLabels, operators: OperatorLabels) -> FenceSeries:
    """A span's labels with the operator id as sent turned into its permit label."""
    zone, fence, operator_id, vehicle_class = labels
    return (zone, fence, operators(zone, operator_id), vehicle_class)


def inside_counts(
    figures: FenceFigures, now_ms: int | None, operators: OperatorLabels
) -> dict[FenceSeries, int]:
    """Vehicles inside a fence in force at ``now_ms``, per series (operators without a permit add up)."""
    counts: dict[FenceSeries, int] = {}
    for labels, count in figures.inside(now_ms).items():
        series = fence_series(labels, operators)
        counts[series] = counts.get(series, 0) + count
    return counts


def exit_buckets(
    figures: FenceFigures, operators: OperatorLabels, before_ms: int | None = None
) -> dict[FenceSeries, tuple[list[int], float]]:
    """Per series: cumulative counts of exits at or under each bucket (then +Inf), and their sum."""
    found: dict[FenceSeries, list[float]] = {}
    for labels, seconds in figures.exits(before_ms).items():
        found.setdefault(fence_series(labels, operators), []).extend(seconds)
    bounds = (*FENCE_EXIT_BUCKETS_S, float("inf"))
    return {
        series: ([sum(s <= bound for s in seconds) for bound in bounds], round(sum(seconds), 3))
        for series, seconds in found.items()
    }


def fence_families(figures: FenceFigures, operators: OperatorLabels) -> list[Metric]:
    """The three fence families of ``figures`` as of ``figures.reached_ms``."""
    now_ms = figures.reached_ms
    inside = catalog_family("pilotzone_fence_vehicles_inside")
    for series, count in sorted(inside_counts(figures, now_ms, operators).items()):
        inside.add_metric(list(series), count)
    in_force = catalog_family("pilotzone_fences_in_force")
    for zone, count in sorted(figures.in_force(now_ms).items()):
        in_force.add_metric([zone], count)
    exits = catalog_family("pilotzone_fence_exit_seconds")
    bounds = [floatToGoString(bound) for bound in (*FENCE_EXIT_BUCKETS_S, float("inf"))]
    for series, (counts, total) in sorted(exit_buckets(figures, operators).items()):
        exits.add_metric(list(series), list(zip(bounds, counts, strict=True)), sum_value=total)
    return [inside, in_force, exits]


FENCE_FAMILIES: Sequence[str] = (
    "pilotzone_fence_vehicles_inside",
    "pilotzone_fences_in_force",
    "pilotzone_fence_exit_seconds",
)
"""The catalog entries only a run with fences exports."""
