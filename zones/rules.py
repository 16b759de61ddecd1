"""Which rule applies where and when: precedence among overlapping rules of one kind.

Zones nest: a school zone inside a district inside a city, an expressway corridor across a
city. A first-match engine gets this wrong in one direction or the other: list the city
limit first and the school zone's 30 km/h never applies; list the school zone first and the
corridor's 80 km/h never relaxes the city's 50. Here, among the rules of one kind that
apply to a vehicle at a place and time, the winner is chosen by

1. the highest explicit ``priority`` (a rule without one counts as 0),
2. then a rule scoped to areas over a zone-wide rule,
3. then the smallest area (the innermost one: areas are ranked by their area in m²),
4. then the rule id, so that a tie is at least deterministic (the loader warns about ties).

so an inner area can tighten or relax an outer one without anyone ordering the file.
This holds for the kinds in ``OVERRIDING_KINDS``; a vehicle_event rule overrides only rules
for the same event. ``restricted_area``, ``leave_boundary`` and ``permit`` rules never
override each other: each applies on its own (being in two restricted areas is two findings).

Evaluating a rule against telemetry (is this sample too fast?) is the pipeline's job; this
module only answers which rule is in force, and explains why in one line.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pilotzone.zones.compiled import CompiledZone, Placement, compile_zone
from pilotzone.zones.kinds import INDEPENDENT_KINDS, KINDS, OVERRIDING_KINDS, RULE_KINDS, kind_of
from pilotzone.zones.model import AreaKind, EventKind, Initiator, Rule, VehicleClass
from pilotzone.zones.schedule import schedule_contains, week_minutes
from pilotzone.zones.zone import Zone

_AREA_NOUNS: dict[AreaKind, str] = {
    AreaKind.DISTRICT: "district",
    AreaKind.SCHOOL_ZONE: "school zone",
    AreaKind.RESTRICTED_AREA: "restricted area",
    AreaKind.SIDEWALK: "sidewalk area",
    AreaKind.DEPOT: "depot",
    AreaKind.PICKUP_DROPOFF: "pick-up/drop-off area",
    AreaKind.CORRIDOR: "corridor",
    AreaKind.CONSTRUCTION: "construction site",
    AreaKind.OTHER: "area",
}


@dataclass(frozen=True)
class AppliedRule:
    """A rule in force at a place and time, and why."""

    rule: Rule
    area: str | None
    """The area that scoped it (the innermost of its areas there); None for a zone-wide rule."""
    overridden: tuple[str, ...]
    """Ids of the other applicable rules of the same kind it took precedence over, in
    precedence order (empty for the independent kinds)."""
    explanation: str

    @property
    def kind(self) -> str:
        """The rule's kind (``speed_limit`` ...)."""
        return self.rule.kind


def rule_applies_to(
    rule: Rule,
    vehicle_class: VehicleClass | str,
    local_time: dt.datetime,
    initiator: Initiator | str | None = None,
) -> bool:
    """Whether a rule's vehicle classes and schedule (and event initiators) cover this case.

    Where it applies is not checked here: that is the areas' business.
    """
    applies = rule.applies
    if applies.vehicle_classes is not None and vehicle_class not in applies.vehicle_classes:
        return False
    if initiator is not None and not kind_of(rule).covers_initiator(rule, initiator):
        return False
    return schedule_contains(applies.schedule, local_time)


def winning_rule(  # noqa: PLR0917 - the pipeline calls it positionally per group
    zone: Zone,
    kind: str,
    area_ids: Iterable[str],
    local_time: dt.datetime,
    vehicle_class: VehicleClass | str,
    event: EventKind | str | None = None,
    *,
    initiator: Initiator | str | None = None,
) -> AppliedRule | None:
    """The rule of ``kind`` in force for a vehicle inside ``area_ids`` at ``local_time``.

    ``area_ids`` are all the areas the vehicle is in (``AreaIndex`` finds them).
    ``local_time`` may be tz-aware (converted to the zone's timezone) or naive (taken as the
    zone's wall-clock time). For ``vehicle_event`` give the ``event`` (and optionally the
    ``initiator``, so that a rule limited to other initiators does not apply). Returns None
    if no rule of the kind applies. The candidates for an area set are computed once per
    zone (``CompiledZone.candidates``), so calling this per (vehicle, area set, time) group
    is cheap.
    """
    if kind not in OVERRIDING_KINDS:
        raise ValueError(
            f"{kind!r} rules do not override each other: use independent_rules() (override kinds: "
            f"{', '.join(OVERRIDING_KINDS)})"
        )
    needed = KINDS[kind].subject_needed
    if needed is not None and event is None:
        raise ValueError(f"winning_rule for {kind} needs {needed}")
    compiled = compile_zone(zone)
    local = compiled.local_time(local_time)
    candidates = compiled.candidates(kind, None if needed is None else str(event), frozenset(area_ids))
    applicable = [p for p in candidates if rule_applies_to(p.rule, vehicle_class, local, initiator)]
    if not applicable:
        return None
    winner, others = applicable[0], applicable[1:]
    explanation = _explain_winner(compiled, winner, others, event)
    return AppliedRule(winner.rule, winner.area, tuple(p.rule.id for p in others), explanation)


def independent_rules(
    zone: Zone,
    kind: str,
    area_ids: Iterable[str],
    local_time: dt.datetime,
    vehicle_class: VehicleClass | str,
    *,
    inside_boundary: bool = True,
) -> list[AppliedRule]:
    """Every ``restricted_area``, ``leave_boundary`` or ``permit`` rule in force, by rule id.

    A restricted_area rule is in force inside one of its areas; leave_boundary when the
    vehicle is outside the boundary (and, if it is scoped, inside one of its areas); permit
    wherever its scope covers the vehicle.
    """
    if kind not in INDEPENDENT_KINDS:
        raise ValueError(f"{kind!r} rules override each other: use winning_rule()")
    compiled = compile_zone(zone)
    local = compiled.local_time(local_time)
    present = frozenset(area_ids)
    applied: list[AppliedRule] = []
    for rule in sorted(compiled.rules_of_kind(kind), key=lambda r: r.id):
        if not rule_applies_to(rule, vehicle_class, local):
            continue
        if KINDS[kind].only_outside_boundary and inside_boundary:
            continue
        in_scope, area = compiled.innermost_scope(rule, present)
        if not in_scope:
            continue
        applied.append(AppliedRule(rule, area, (), _explain_independent(compiled, rule, area, vehicle_class)))
    return applied


def rules_at(
    zone: Zone, lon: float, lat: float, when: dt.datetime, vehicle_class: VehicleClass | str
) -> list[AppliedRule]:
    """Every rule in force for a vehicle of ``vehicle_class`` at a point and instant.

    One winner per overriding kind (per event for vehicle_event) plus every independent rule
    in force, sorted by kind in ``RULE_KINDS`` order, then by rule id. ``when`` must be
    tz-aware; it is converted to the zone's timezone. Points on an area's edge count as in
    the area (see ``zones.index``).
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("when must be timezone-aware (for example 2025-03-04T08:15:00+09:00)")
    compiled = compile_zone(zone)
    lon_a, lat_a = np.array([lon], dtype=np.float64), np.array([lat], dtype=np.float64)
    present = compiled.index.area_sets(lon_a, lat_a)[0]
    inside = bool(compiled.index.inside_boundary(lon_a, lat_a)[0])
    local = compiled.local_time(when)
    found: list[AppliedRule] = []
    for kind in OVERRIDING_KINDS:
        if KINDS[kind].subject_needed is not None:
            subjects = {KINDS[kind].subject(rule) for rule in compiled.rules_of_kind(kind)}
            for event in sorted(s for s in subjects if s is not None):
                applied = winning_rule(zone, kind, present, local, vehicle_class, event)
                if applied is not None:
                    found.append(applied)
            continue
        applied = winning_rule(zone, kind, present, local, vehicle_class)
        if applied is not None:
            found.append(applied)
    for kind in INDEPENDENT_KINDS:
        found.extend(independent_rules(zone, kind, present, local, vehicle_class, inside_boundary=inside))
    found.sort(key=lambda a: (RULE_KINDS.index(a.kind), a.rule.id))
    return found


def zone_local_time(zone: Zone, when: dt.datetime) -> dt.datetime:
    """``when`` as wall-clock time in the zone's timezone (a naive time is taken as already local)."""
    return compile_zone(zone).local_time(when)


def rule_parameters(rule: Rule) -> str:
    """The key parameters of a rule, as a short phrase for people (``30 km/h``, ``max gap 10 s``)."""
    if rule.kind not in KINDS:
        raise TypeError(f"unknown rule type {type(rule).__name__}")
    return kind_of(rule).parameters(rule)


def precedence_ties(rules: Sequence[Rule]) -> list[tuple[Rule, Rule, str]]:
    """Pairs of overriding rules that can meet with equal precedence, so only their ids decide.

    Two rules of one kind (and event) tie where both are in force with the same priority and
    the same scope: both zone-wide, or both scoped to a common area. They must also overlap
    in vehicle classes, event initiators and schedule (to the minute). Each pair comes as
    (winner by id, loser, scope phrase).
    """
    groups: dict[tuple[str, str | None], list[Rule]] = {}
    for rule in rules:
        if rule.kind in OVERRIDING_KINDS:
            groups.setdefault((rule.kind, kind_of(rule).subject(rule)), []).append(rule)
    ties: list[tuple[Rule, Rule, str]] = []
    for group in groups.values():
        for first, second in itertools.combinations(sorted(group, key=lambda r: r.id), 2):
            if (first.priority or 0) != (second.priority or 0):
                continue
            scope = _shared_scope(first, second)
            if scope is None or not _classes_overlap(first, second) or not _initiators_overlap(first, second):
                continue
            if not (week_minutes(first.applies.schedule) & week_minutes(second.applies.schedule)).any():
                continue
            ties.append((first, second, scope))
    return ties


# --- internals -----------------------------------------------------------------------------


def _area_phrase(zone: CompiledZone, area: str | None, *, with_name: bool) -> str:
    if area is None:
        return "zone-wide"
    info = zone.areas[area]
    name = f" '{info.name}'" if with_name and info.name else ""
    return f"in {_AREA_NOUNS[info.kind]} {area}{name}"


def _rule_phrase(zone: CompiledZone, placement: Placement, *, with_name: bool) -> str:
    parameters = rule_parameters(placement.rule)
    return f"{placement.rule.id} ({parameters} {_area_phrase(zone, placement.area, with_name=with_name)})"


def _explain_winner(zone: CompiledZone, winner: Placement, others: Sequence[Placement], event: Any) -> str:
    head = f"{winner.rule.kind} {_rule_phrase(zone, winner, with_name=True)} applies"
    if not others:
        what = f"{winner.rule.kind} rule for {event}" if event is not None else f"{winner.rule.kind} rule"
        return f"{head}: the only {what} in force here"
    runner_up = others[0]
    if winner.priority != runner_up.priority:
        reason = f"higher priority ({winner.priority} over {runner_up.priority})"
    elif winner.area is not None and runner_up.area is None:
        reason = "area rule over zone-wide rule"
    elif winner.area_m2 < runner_up.area_m2:
        reason = "innermost area"
    else:
        reason = "equal precedence, first by rule id"
    beaten = [_rule_phrase(zone, other, with_name=False) for other in others]
    listed = beaten[0] if len(beaten) == 1 else ", ".join(beaten[:-1]) + " and " + beaten[-1]
    return f"{head}: {reason}, takes precedence over {listed}"


def _explain_independent(
    zone: CompiledZone, rule: Rule, area: str | None, vehicle_class: VehicleClass | str
) -> str:
    head = (
        f"{rule.kind} {rule.id} ({rule_parameters(rule)} {_area_phrase(zone, area, with_name=True)}) applies"
    )
    why = kind_of(rule).why_in_force(
        rule,
        place=_area_phrase(zone, area, with_name=True),
        vehicle_class=str(vehicle_class),
        operators=zone.config.operators,
    )
    return f"{head}: {why}"


def _shared_scope(first: Rule, second: Rule) -> str | None:
    a, b = first.applies.areas, second.applies.areas
    if a is None and b is None:
        return "zone-wide"
    if a is None or b is None:
        return None
    common = sorted(set(a) & set(b))
    return f"in area {common[0]}" if common else None


def _classes_overlap(first: Rule, second: Rule) -> bool:
    a, b = first.applies.vehicle_classes, second.applies.vehicle_classes
    return a is None or b is None or bool(set(a) & set(b))


def _initiators_overlap(first: Rule, second: Rule) -> bool:
    return first.kind != second.kind or kind_of(first).initiators_overlap(first, second)
