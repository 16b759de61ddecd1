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
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pilotzone.zones.compiled import CompiledZone, Placement, compile_zone
from pilotzone.zones.kinds import INDEPENDENT_KINDS, KINDS, OVERRIDING_KINDS, RULE_KINDS, kind_of
from pilotzone.zones.model import AreaKind, EventKind, Initiator, Rule, VehicleClass
from pilotzone.zones.schedule import MINUTES_PER_WEEK, schedule_contains, week_minutes
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


@dataclass(frozen=True)
class PrecedenceTies:
    """Pairs of rules tied on precedence, listed up to a limit, and how many rules tie at all."""

    pairs: tuple[tuple[Rule, Rule, str], ...]
    """(winner by id, loser, scope phrase), grouped by kind in config order, then by rule id."""
    tied_rules: int
    """Rules that tie with at least one other rule (exact, even when ``pairs`` is cut short)."""
    complete: bool
    """False when there are more tied pairs than ``pairs`` lists."""


def precedence_ties(rules: Sequence[Rule], *, limit: int | None = None) -> PrecedenceTies:
    """Pairs of overriding rules that can meet with equal precedence, so only their ids decide.

    Two rules of one kind (and event) tie where both are in force with the same priority and
    the same scope: both zone-wide, or both scoped to a common area (the phrase names the
    first common area by id). They must also overlap in vehicle classes, event initiators
    and schedule (to the minute). At most ``limit`` pairs are listed.

    Checking every pair is quadratic: 10,000 rules tied zone-wide are 50 million pairs,
    minutes of CPU and gigabytes of warnings. Instead the rules are bucketed by kind,
    subject, priority and scope, and each rule becomes one bit mask over (initiator,
    vehicle class, minute of the week): two rules in a bucket tie exactly when their masks
    intersect. Walking a bucket in id order against the union of the masks seen so far
    tells in one operation whether a rule ties with any earlier one; only then are earlier
    rules scanned for the partner, and scanning stops once ``limit`` pairs are exceeded.
    The cost is linear in the rules (times the bucket memberships) plus ``limit`` scans.
    """
    order = sorted(range(len(rules)), key=lambda i: (rules[i].id, i))
    position = {index: rank for rank, index in enumerate(order)}
    group_of: dict[tuple[str, str | None], int] = {}
    group_index: dict[int, int] = {}
    buckets: dict[tuple[int, int, int, str], list[int]] = {}
    for index, rule in enumerate(rules):  # groups listed in config order, as the kinds first appear
        if rule.kind in OVERRIDING_KINDS:
            group_index[index] = group_of.setdefault((rule.kind, kind_of(rule).subject(rule)), len(group_of))
    for index in order:
        rule = rules[index]
        if rule.kind not in OVERRIDING_KINDS:
            continue
        group = group_index[index]
        areas = rule.applies.areas
        # "" sorts before every area id, so a pair meets its first common area first.
        for scope in [""] if areas is None else sorted(set(areas)):
            buckets.setdefault((group, 0 if areas is None else 1, rule.priority or 0, scope), []).append(
                index
            )
    found: dict[tuple[int, int], str] = {}
    tied: set[int] = set()
    cap = None if limit is None else limit + 1
    minutes: dict[int, int] = {}
    for key in sorted(buckets):
        members = buckets[key]
        if len(members) < 2:
            continue
        masks = _overlap_masks([rules[i] for i in members], minutes, members)
        scope = "zone-wide" if key[1] == 0 else f"in area {key[3]}"
        seen = 0
        for rank, (index, mask) in enumerate(zip(members, masks, strict=True)):
            if mask & seen:
                tied.add(index)
                if cap is None or len(found) < cap:
                    for other, other_mask in zip(members[:rank], masks[:rank], strict=True):
                        if mask & other_mask:
                            found.setdefault((other, index), scope)
                            if cap is not None and len(found) >= cap:
                                break
            seen |= mask
        seen = 0
        for index, mask in zip(reversed(members), reversed(masks), strict=True):
            if mask & seen:
                tied.add(index)
            seen |= mask

    listed = sorted(found, key=lambda pair: (group_index[pair[0]], position[pair[0]], position[pair[1]]))
    complete = limit is None or len(listed) <= limit
    if not complete:
        listed = listed[:limit]
    pairs = tuple((rules[a], rules[b], found[(a, b)]) for a, b in listed)
    return PrecedenceTies(pairs, len(tied), complete)


def _overlap_masks(members: Sequence[Rule], minutes: dict[int, int], indices: Sequence[int]) -> list[int]:
    """One integer bit mask per rule over (initiator, vehicle class, minute of the week).

    Dimensions every rule of the bucket covers whole are left out, so a bucket of zone-wide
    rules for every class costs 10,080 bits a rule, not 27 times that.
    """
    all_classes = list(VehicleClass)
    all_initiators = list(Initiator)
    classes = [
        all_classes
        if rule.applies.vehicle_classes is None
        else [c for c in all_classes if c in rule.applies.vehicle_classes]
        for rule in members
    ]
    initiators = [[i for i in all_initiators if kind_of(rule).covers_initiator(rule, i)] for rule in members]
    class_axis = all_classes if any(len(c) < len(all_classes) for c in classes) else [None]
    initiator_axis = all_initiators if any(len(i) < len(all_initiators) for i in initiators) else [None]
    masks: list[int] = []
    for rule, index, rule_classes, rule_initiators in zip(members, indices, classes, initiators, strict=True):
        if index not in minutes:
            covered = np.packbits(week_minutes(rule.applies.schedule), bitorder="little")
            minutes[index] = int.from_bytes(covered.tobytes(), "little")
        mask = 0
        for a, initiator in enumerate(initiator_axis):
            if initiator is not None and initiator not in rule_initiators:
                continue
            for b, vehicle_class in enumerate(class_axis):
                if vehicle_class is not None and vehicle_class not in rule_classes:
                    continue
                mask |= minutes[index] << ((a * len(class_axis) + b) * MINUTES_PER_WEEK)
        masks.append(mask)
    return masks


# --- internals -----------------------------------------------------------------------------


def _area_phrase(zone: CompiledZone, area: str | None, *, with_name: bool) -> str:
    if area is None:
        return "zone-wide"
    info = zone.areas[area]
    name = f" '{info.name}'" if with_name and info.name else ""
    return f"in {_AREA_NOUNS[info.kind]} {area}{name}"


_PHRASES: weakref.WeakKeyDictionary[CompiledZone, dict[tuple[int, str | None, bool], str]] = (
    weakref.WeakKeyDictionary()
)
"""Rule phrases per compiled zone, by (rule object, area, with name): explaining every group of
samples a fleet meets repeats the same few phrases thousands of times."""


def _rule_phrase(zone: CompiledZone, placement: Placement, *, with_name: bool) -> str:
    phrases = _PHRASES.setdefault(zone, {})
    # The compiled zone holds its rules, so a rule's id() is stable for as long as the memo is.
    key = (id(placement.rule), placement.area, with_name)
    phrase = phrases.get(key)
    if phrase is None:
        parameters = rule_parameters(placement.rule)
        area = _area_phrase(zone, placement.area, with_name=with_name)
        phrase = phrases[key] = f"{placement.rule.id} ({parameters} {area})"
    return phrase


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
