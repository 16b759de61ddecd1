"""A zone prepared for the questions asked of it per sample: built once, then only read.

A ``Zone`` is the configuration as a value. Answering "which areas is this point in" and
"which speed_limit rule wins in these areas" millions of times needs prepared structures:
the ``AreaIndex`` and, per area set, the rules of a kind in precedence order. They live in a
``CompiledZone``, the way shapely builds an ``STRtree`` once from geometries and then only
queries it.

``compile_zone(zone)`` returns the zone's compiled form, built on first use and kept as long
as the zone is alive (keyed by identity, held weakly), so callers that pass zones around
never build one twice and never keep a discarded zone alive. ``per_zone`` gives other
modules the same kind of memo for what they prepare from a zone (the evaluator's tables).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

from pilotzone.zones.index import AreaIndex
from pilotzone.zones.kinds import kind_of
from pilotzone.zones.model import RULE_KINDS, Rule, ZoneConfig
from pilotzone.zones.zone import Area, Zone

T = TypeVar("T")

CandidateKey = tuple[str, str | None, frozenset[str]]
"""(rule kind, event for vehicle_event rules or None, the area ids a vehicle is in)."""


@dataclass(frozen=True)
class Placement:
    """A rule as a candidate at one set of areas: its scope there and its precedence key."""

    rule: Rule
    area: str | None
    """The innermost of the rule's areas in the set; None for a zone-wide rule."""
    area_m2: float
    """That area's size (infinite for a zone-wide rule, which is outermost)."""

    @property
    def priority(self) -> int:
        """The rule's explicit priority; a rule without one counts as 0."""
        return self.rule.priority or 0

    def key(self) -> tuple[int, bool, float, str]:
        """Sort key: highest priority, then area rules, then the smallest area, then the id."""
        return (-self.priority, self.area is None, self.area_m2, self.rule.id)


class CompiledZone:
    """A zone's area index and rule precedence tables, for lookups in hot loops.

    It holds the zone's parts (config, areas, rules) but not the ``Zone`` itself, so that
    ``compile_zone``'s memo, which holds compiled zones, does not keep their zones alive.
    Candidate lists are filled per area set on first use: the area sets a fleet visits are
    few, but not known in advance.
    """

    def __init__(self, zone: Zone) -> None:
        self.zone_id: str = zone.zone_id
        self.config: ZoneConfig = zone.config
        self.areas: Mapping[str, Area] = zone.areas
        self.rules: tuple[Rule, ...] = tuple(zone.config.rules)
        self.tz: ZoneInfo = zone.config.tz
        self.index: AreaIndex = AreaIndex(zone)
        self._of_kind: dict[str, tuple[Rule, ...]] = {
            kind: tuple(rule for rule in self.rules if rule.kind == kind) for kind in RULE_KINDS
        }
        self._candidates: dict[CandidateKey, tuple[Placement, ...]] = {}

    def rules_of_kind(self, kind: str) -> tuple[Rule, ...]:
        """The rules of one kind (``speed_limit`` ...), in config order."""
        try:
            return self._of_kind[kind]
        except KeyError:
            raise ValueError(f"unknown rule kind {kind!r}: expected one of {', '.join(RULE_KINDS)}") from None

    def local_time(self, when: dt.datetime) -> dt.datetime:
        """``when`` as wall-clock time in the zone's timezone (a naive time is taken as already local)."""
        if when.tzinfo is None:
            return when
        return when.astimezone(self.tz)

    def innermost_scope(self, rule: Rule, present: Collection[str]) -> tuple[bool, str | None]:
        """Whether the rule's areas cover the area set, and the smallest of its areas there."""
        areas = rule.applies.areas
        if areas is None:
            return True, None
        inside = [area for area in areas if area in present and area in self.areas]
        if not inside:
            return False, None
        return True, min(inside, key=lambda a: (self.areas[a].area_m2, a))

    def candidates(self, kind: str, event: str | None, present: frozenset[str]) -> tuple[Placement, ...]:
        """The rules of a kind (about ``event``, if given) whose scope covers an area set.

        In precedence order (``Placement.key``); vehicle classes and schedules are not
        checked here, they depend on the vehicle and the time.
        """
        key = (kind, event, present)
        found = self._candidates.get(key)
        if found is None:
            placements: list[Placement] = []
            for rule in self.rules_of_kind(kind):
                if event is not None and kind_of(rule).subject(rule) != event:
                    continue
                in_scope, area = self.innermost_scope(rule, present)
                if in_scope:
                    area_m2 = self.areas[area].area_m2 if area is not None else math.inf
                    placements.append(Placement(rule, area, area_m2))
            placements.sort(key=Placement.key)
            found = self._candidates[key] = tuple(placements)
        return found


def per_zone(build: Callable[[Zone], T]) -> Callable[[Zone], T]:
    """``build`` memoised per zone, by identity, for as long as the zone is alive.

    The memo holds zones weakly, so what ``build`` returns must not refer to the zone (or
    the zone would never be freed): keep the parts it needs instead, as ``CompiledZone`` does.
    """
    memo: weakref.WeakKeyDictionary[Zone, T] = weakref.WeakKeyDictionary()

    @functools.wraps(build)
    def built_for(zone: Zone) -> T:
        try:
            return memo[zone]
        except KeyError:
            value = memo[zone] = build(zone)
            return value

    return built_for


@per_zone
def compile_zone(zone: Zone) -> CompiledZone:
    """The zone's ``CompiledZone``, built on first use and kept while the zone lives."""
    return CompiledZone(zone)


def area_index(zone: Zone) -> AreaIndex:
    """The zone's ``AreaIndex``, from its compiled form (built once per zone)."""
    return compile_zone(zone).index


__all__ = ["CandidateKey", "CompiledZone", "Placement", "area_index", "compile_zone", "per_zone"]
