"""Dashboard panel queries as Prometheus would receive them from Grafana, for tests.

The integration test evaluates every one against a real Prometheus; the unit tests check the
substitution itself. Not part of the package: Grafana does this substitution in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from pilotzone.pipelines.dashboards import all_dashboards
from pilotzone.pipelines.dashboards.queries import ZONE_VARIABLE


class ConcreteQuery(NamedTuple):
    """A panel query with every template variable replaced, ready for Prometheus's HTTP API."""

    dashboard_uid: str
    panel_title: str
    expr: str


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def panel_queries(dashboard_json: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, PromQL expr)`` for every query target of every panel, in dashboard order.

    The exprs still hold Grafana's template variables (``$pilot_zone``, ``$__range`` ...);
    ``concrete_queries`` substitutes them.
    """
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard_json.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` in ``expr``; a variable without a value is an error.

    Raising (rather than leaving ``$name``) means a new template variable cannot slip past the
    integration test that evaluates every query.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


_LABEL_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def concrete_queries(*, pilot_zone: str, interval: str = "5m", time_range: str = "1h") -> list[ConcreteQuery]:
    """Every panel query of every dashboard as Prometheus would receive it from Grafana.

    ``interval`` stands for ``$__interval`` and ``$__rate_interval``, ``time_range`` for
    ``$__range``; ``pilot_zone`` is the zone picked on the zone-detail dashboard.

    >>> concrete_queries(pilot_zone="gwangju", interval="5m")[0].expr
    'sum by (pilot_zone) (pilotzone_active_vehicles)'
    """
    if not _LABEL_VALUE.match(pilot_zone):
        raise ValueError(f"pilot_zone {pilot_zone!r} is not a zone id (letters, digits, '_', '.', '-')")
    for name, duration in (("interval", interval), ("time_range", time_range)):
        if not _DURATION.match(duration):
            raise ValueError(f"{name} {duration!r} is not a PromQL duration such as 5m or 1h30m")
    values = {
        ZONE_VARIABLE: pilot_zone,
        "__interval": interval,
        "__rate_interval": interval,
        "__range": time_range,
    }
    return [
        ConcreteQuery(uid, title, substitute(expr, values))
        for uid, data in all_dashboards().items()
        for title, expr in panel_queries(data)
    ]
