"""Which vehicles, places, times and states an MDS rule matches, to translate first-match order.

MDS evaluates a policy's rules in order, and a vehicle counts against the first rule that
matches it (count rules hand vehicles beyond their maximum on to later rules). Zone rules
have explicit precedence instead (``zones.rules``). To translate, the importer compares each
rule's scope with every earlier rule's: where an earlier rule matches everything a later
one would, the later one is cut out of that place; where it matches only some of it, the
difference is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from pilotzone.zones.model import TimeWindow, VehicleClass
from pilotzone.zones.schedule import week_minutes

Overlap = Literal["none", "partial", "full"]
Capture = Literal["all", "up_to_maximum", "none"]


@dataclass(frozen=True)
class Scope:
    """Where, when, to which classes and in which MDS states a rule applies (None: all)."""

    geometry: Any
    classes: frozenset[VehicleClass] | None
    minutes: npt.NDArray[np.bool_]
    states: frozenset[str] | None

    @classmethod
    def of(
        cls,
        geometry: Any,
        classes: list[VehicleClass] | None,
        schedule: list[TimeWindow] | None,
        states: frozenset[str] | None,
    ) -> Scope:
        return cls(geometry, None if classes is None else frozenset(classes), week_minutes(schedule), states)


def _sets(earlier: frozenset[Any] | None, later: frozenset[Any] | None) -> Overlap:
    if earlier is None:
        return "full"
    if later is None:
        return "partial"
    if not earlier & later:
        return "none"
    return "full" if later <= earlier else "partial"


def overlap(earlier: Scope, later: Scope) -> Overlap:
    """How much of ``later``'s scope ``earlier`` matches: none, part of it, or all of it
    (within the places both cover)."""
    if (
        not earlier.geometry.intersects(later.geometry)
        or earlier.geometry.intersection(later.geometry).area <= 0
    ):
        return "none"
    if not bool((earlier.minutes & later.minutes).any()):
        return "none"
    parts = [
        _sets(earlier.classes, later.classes),
        _sets(earlier.states, later.states),
        "partial" if bool((later.minutes & ~earlier.minutes).any()) else "full",
    ]
    if "none" in parts:
        return "none"
    return "full" if all(p == "full" for p in parts) else "partial"


def capture(rule: dict[str, Any]) -> Capture:
    """Which matching vehicles an MDS rule keeps from later rules.

    A count rule keeps vehicles up to its maximum and hands the rest on (so ``maximum: 0``
    keeps none); a count rule without a maximum keeps all; speed, time and other rules keep
    every vehicle they match.
    """
    if rule.get("rule_type") != "count":
        return "all"
    maximum = rule.get("maximum")
    if maximum is None:
        return "all"
    return "none" if maximum == 0 else "up_to_maximum"


def states_of(rule: dict[str, Any]) -> frozenset[str] | None:
    """The MDS vehicle states a rule names (None: no states named, so all of them)."""
    states = rule.get("states")
    if not isinstance(states, dict) or not states:
        return None
    return frozenset(states)


__all__ = ["Capture", "Overlap", "Scope", "capture", "overlap", "states_of"]
