"""The rule kinds, one module each, found through one registry: ``KINDS``.

A kind module defines the kind's config model and a ``KIND`` object (a ``RuleKind``) that
says what the kind means: its condition on arrays of fixes, its peak and unit, its grace and
the phrases that explain it. Adding a kind is adding a module and one line below; the config
schema (``zones.model.Rule``), the precedence engine and the evaluator take it from here.
"""

from __future__ import annotations

from typing import Any

from pilotzone.zones.kinds import (
    driving_mode,
    dwell,
    leave_boundary,
    operating_hours,
    permit,
    restricted_area,
    speed_limit,
    telemetry_gap,
    vehicle_event,
)
from pilotzone.zones.kinds.base import RuleKind
from pilotzone.zones.terms import RuleBase

# The order is the order of kinds everywhere people read them (CLI listings, rules_at).
KINDS: dict[str, RuleKind[Any]] = {
    kind.name: kind
    for kind in (
        speed_limit.KIND,
        leave_boundary.KIND,
        restricted_area.KIND,
        operating_hours.KIND,
        telemetry_gap.KIND,
        driving_mode.KIND,
        dwell.KIND,
        permit.KIND,
        vehicle_event.KIND,
    )
}
"""Kind name -> the kind."""

RULE_KINDS: tuple[str, ...] = tuple(KINDS)
"""Every kind name, in registry order."""

RULE_MODELS: dict[str, type[RuleBase]] = {name: kind.model for name, kind in KINDS.items()}
"""Kind name -> its pydantic config model."""

OVERRIDING_KINDS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.overriding)
"""Kinds where one rule wins at a point and overrides the others (per subject, if any)."""

INDEPENDENT_KINDS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if not kind.overriding)
"""Kinds where every applicable rule applies on its own."""


def kind_of(rule: RuleBase) -> RuleKind[Any]:
    """The kind of a rule."""
    return KINDS[rule.kind]


__all__ = [
    "INDEPENDENT_KINDS",
    "KINDS",
    "OVERRIDING_KINDS",
    "RULE_KINDS",
    "RULE_MODELS",
    "RuleKind",
    "kind_of",
]
