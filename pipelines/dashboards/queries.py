"""PromQL pieces the dashboards share, written against the raw catalog metrics.

Counters are only ever read through ``rate()`` or ``increase()``, because their raw value
depends on when the pipeline last restarted.
"""

from __future__ import annotations

from typing import NamedTuple

ZONE_VARIABLE = "pilot_zone"
"""The zone-detail dashboard's template variable: the zone picked."""

ZONE_SELECTOR = f'pilot_zone="${ZONE_VARIABLE}"'
PER_1000_KM = 1_000_000
"""1,000 km in metres: distance is exported in metres (base unit)."""


class Query(NamedTuple):
    """One PromQL target of a panel and how its series are named in the legend."""

    expr: str
    legend: str = ""


def ratio_or_zero(numerator: str, denominator: str) -> str:
    """``numerator / denominator``, 0 where the numerator has no series, absent where the denominator is 0.

    Counters such as violation seconds only have a series once something happened; without the
    ``or`` a zone with no violation at all would show no compliance ratio instead of 100 %.
    """
    return f"(({numerator}) or (0 * ({denominator}))) / (({denominator}) > 0)"


def compliance_ratio(by: str, selector: str, window: str) -> str:
    """1 − violation seconds ÷ vehicle seconds, clamped to [0, 1].

    Violation time is summed over rules, so a vehicle breaking two rules at once counts twice and
    the ratio could drop below 0; clamping keeps the gauge readable, the description says why.
    """
    violation = f"sum by ({by}) (increase(pilotzone_violation_seconds_total{selector}[{window}]))"
    operating = f"sum by ({by}) (increase(pilotzone_vehicle_seconds_total{selector}[{window}]))"
    return f"clamp(1 - {ratio_or_zero(violation, operating)}, 0, 1)"


def per_1000_autonomous_km(counter: str, by: str, selector: str) -> str:
    """Events per 1,000 km driven in AUTONOMOUS mode, the rate permits and reports compare fleets by."""
    events = f"sum by ({by}) (increase({counter}{selector}[$__range]))"
    autonomous_selector = (
        selector[:-1] + ', driving_mode="AUTONOMOUS"}' if selector else '{driving_mode="AUTONOMOUS"}'
    )
    km = f"sum by ({by}) (increase(pilotzone_distance_meters_total{autonomous_selector}[$__range])) / {PER_1000_KM}"
    return ratio_or_zero(events, km)
