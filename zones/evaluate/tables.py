"""What the evaluator looks up per zone and per group of samples, prepared once.

Per zone: rule schedules as minute tables, vehicle classes as masks, each rule's kind tables
(``RuleKind.prepare``), the boundary in metres. Per group of samples sharing a rule context
(zone, area set, vehicle class, schedule pattern, inside the boundary): which rules are in
force there, asked of ``zones.rules`` once, so precedence and explanations are exactly
those of ``pilotzone zones explain``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import shapely

from pilotzone import geo
from pilotzone.schemas.batch import EVENT_KINDS, INITIATORS, NO_LEVEL, VEHICLE_CLASSES
from pilotzone.zones.compiled import area_index, per_zone
from pilotzone.zones.kinds import KINDS, RuleKind, kind_of
from pilotzone.zones.kinds.base import BoolArray, ZoneFacts
from pilotzone.zones.kinds.restricted_area import Crossable
from pilotzone.zones.model import Rule
from pilotzone.zones.rules import AppliedRule, independent_rules, winning_rule
from pilotzone.zones.schedule import MINUTES_PER_WEEK, week_minutes
from pilotzone.zones.zone import Zone

DEFAULT_OBSERVATION_GAP_S = 30.0
"""Where no telemetry_gap rule is in force, fixes further apart than this are not one stretch."""

A_MONDAY = dt.datetime(2024, 1, 1)
"""A naive Monday 00:00: ``zones.rules`` reads it as the zone's wall-clock time, so minute
``m`` of the week is ``A_MONDAY + m minutes``."""

_DEFAULT_GAP_MS = int(DEFAULT_OBSERVATION_GAP_S * 1000)
_GAP_KIND = next(name for name, kind in KINDS.items() if kind.evaluation == "gap")
_EVENT_KIND = next(name for name, kind in KINDS.items() if kind.evaluation == "event")


@dataclass(frozen=True)
class _ZoneTables:
    """Everything per zone the evaluator looks up by array index instead of by string."""

    tz: ZoneInfo
    local_of: dict[str, int]
    pattern_of_minute: npt.NDArray[np.int32]
    """Per minute of the week, which combination of rule schedules covers it (an id)."""
    class_ok: BoolArray  # rules x vehicle classes
    week: tuple[BoolArray | None, ...]  # per rule: its schedule's minutes, None = always
    prepared: tuple[Any, ...]  # per rule: its kind's tables (RuleKind.prepare)
    crossable: dict[int, Crossable]  # rules whose areas can be crossed between fixes
    crossable_areas: tuple[frozenset[str], ...]  # per rule: its areas if crossable, else none
    event_codes: BoolArray  # event kinds some event rule is about
    boundary_m: Any  # the boundary in a local metric projection, prepared
    frame: geo.LocalFrame  # metres around the boundary's centre, for distances outside it


@per_zone
def _zone_tables(zone: Zone) -> _ZoneTables:
    """The zone's lookup tables, built once per zone (``per_zone``); they never refer to it."""
    rules = zone.rules
    week = tuple(None if r.applies.schedule is None else week_minutes(r.applies.schedule) for r in rules)
    scheduled = [w for w in week if w is not None]
    if scheduled:
        _, pattern = np.unique(np.stack(scheduled), axis=1, return_inverse=True)
        pattern_of_minute = pattern.reshape(-1).astype(np.int32)
    else:
        pattern_of_minute = np.zeros(MINUTES_PER_WEEK, dtype=np.int32)
    class_ok = np.array(
        [
            [r.applies.vehicle_classes is None or c in r.applies.vehicle_classes for c in VEHICLE_CLASSES]
            for r in rules
        ],
        dtype=bool,
    ).reshape(len(rules), len(VEHICLE_CLASSES))
    facts = ZoneFacts(
        operators=tuple(zone.config.operators),
        area_geometry={area_id: area.geometry for area_id, area in zone.areas.items()},
    )
    prepared = tuple(kind_of(r).prepare(r, facts) for r in rules)
    crossable = {
        i: tables
        for i, (r, tables) in enumerate(zip(rules, prepared, strict=True))
        if kind_of(r).crossable and tables is not None
    }
    event_codes = np.array(
        [
            any(kind_of(r).evaluation == "event" and kind_of(r).subject(r) == e for r in rules)
            for e in EVENT_KINDS
        ],
        dtype=bool,
    )
    minx, miny, maxx, maxy = zone.boundary.bounds
    frame = geo.LocalFrame.around((minx + maxx) / 2, (miny + maxy) / 2)
    boundary_m = shapely.transform(zone.boundary, lambda c: np.column_stack(frame.to_local(c[:, 0], c[:, 1])))
    shapely.prepare(boundary_m)
    return _ZoneTables(
        tz=zone.config.tz,
        local_of={r.id: i for i, r in enumerate(rules)},
        pattern_of_minute=pattern_of_minute,
        class_ok=class_ok,
        week=week,
        prepared=prepared,
        crossable=crossable,
        crossable_areas=tuple(
            frozenset(r.applies.areas or ()) if kind_of(r).crossable else frozenset() for r in rules
        ),
        event_codes=event_codes,
        boundary_m=boundary_m,
        frame=frame,
    )


@dataclass
class GroupRules:
    """The rules in force for one group of samples (zone, areas, class, schedules, inside)."""

    areas: frozenset[str]
    vehicle_class: str
    local_time: dt.datetime
    in_force: BoolArray  # per zone rule (kinds evaluated as runs)
    area: list[str | None]
    explanation: list[str]
    gap_rule: int  # zone-local index, -1: none
    gap_ms: int
    in_rule_area: BoolArray  # per zone rule: the areas include one of a crossable rule's areas
    events: dict[tuple[int, int], tuple[int, str | None, str] | None] = field(default_factory=dict)

    def event_rule(self, zone: Zone, kind: int, initiator: int) -> tuple[int, str | None, str] | None:
        """The winning event rule for an event kind and initiator (cached per group)."""
        key = (kind, initiator)
        if key not in self.events:
            applied = winning_rule(
                zone,
                _EVENT_KIND,
                self.areas,
                self.local_time,
                self.vehicle_class,
                EVENT_KINDS[kind],
                initiator=None if initiator == NO_LEVEL else INITIATORS[initiator],
            )
            self.events[key] = (
                None
                if applied is None
                else (_zone_tables(zone).local_of[applied.rule.id], applied.area, applied.explanation)
            )
        return self.events[key]


def group_rules(zone: Zone, key: tuple[tuple[int, ...], int, int, bool], minute: int) -> GroupRules:
    """Rules in force for a group, computed once per zone and group key.

    ``key`` is (area positions, vehicle class code, schedule pattern, inside the boundary);
    ``minute`` is any minute of the week with that schedule pattern.
    """
    codes, cls, _, inside = key

    def compute() -> GroupRules:
        tables = _zone_tables(zone)
        ids = area_index(zone).area_ids
        areas = frozenset(ids[c] for c in codes)
        local = A_MONDAY + dt.timedelta(minutes=minute)
        vehicle_class = VEHICLE_CLASSES[cls]
        count = len(zone.rules)
        in_force = np.zeros(count, dtype=bool)
        area: list[str | None] = [None] * count
        explanation = [""] * count
        applied_rules: list[AppliedRule] = []
        for name, kind in KINDS.items():
            if kind.evaluation != "run":
                continue
            if kind.overriding:
                winner = winning_rule(zone, name, areas, local, vehicle_class)
                applied_rules += [] if winner is None else [winner]
            else:
                applied_rules += independent_rules(
                    zone, name, areas, local, vehicle_class, inside_boundary=inside
                )
        for applied in applied_rules:
            i = tables.local_of[applied.rule.id]
            in_force[i] = True
            area[i], explanation[i] = applied.area, applied.explanation
        gap = winning_rule(zone, _GAP_KIND, areas, local, vehicle_class)
        gap_rule, gap_ms = -1, _DEFAULT_GAP_MS
        if gap is not None:
            gap_rule = tables.local_of[gap.rule.id]
            area[gap_rule], explanation[gap_rule] = gap.area, gap.explanation
            silence = kind_of(gap.rule).max_silence_ms(gap.rule)
            gap_ms = _DEFAULT_GAP_MS if silence is None else silence
        in_rule_area = np.array(
            [not areas.isdisjoint(rule_areas) for rule_areas in tables.crossable_areas], dtype=bool
        )
        return GroupRules(
            areas, vehicle_class, local, in_force, area, explanation, gap_rule, gap_ms, in_rule_area
        )

    groups = _groups_of(zone)
    if key not in groups:
        groups[key] = compute()
    return groups[key]


@per_zone
def _groups_of(zone: Zone) -> dict[tuple[tuple[int, ...], int, int, bool], GroupRules]:
    """The rules in force per (area set, vehicle class, minute pattern, gap) group, filled as met."""
    return {}


@dataclass(frozen=True)
class RuleRef:
    """A rule of one of the evaluator's zones, numbered across all zones."""

    zone_pos: int
    local: int
    rule: Rule
    kind: RuleKind[Any]


class Plan:
    """The evaluator's zones flattened into arrays (rebuilt after unpickling, not stored)."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = list(zones)
        self.tables = [_zone_tables(z) for z in self.zones]
        self.rules: list[RuleRef] = []
        self.first_rule: list[int] = []
        for position, zone in enumerate(self.zones):
            self.first_rule.append(len(self.rules))
            self.rules.extend(RuleRef(position, i, rule, kind_of(rule)) for i, rule in enumerate(zone.rules))
        self.operator_zone: dict[str, int] = {}
        for position, zone in enumerate(self.zones):
            for op in zone.config.operators:
                self.operator_zone.setdefault(op.id, position)
        thresholds = (ref.kind.stop_threshold_kmh(ref.rule) for ref in self.rules)
        self.stop_thresholds = sorted({low for low in thresholds if low is not None})
        self.same_tz = len({t.tz.key for t in self.tables}) <= 1

    def rule_ref(self, zone_pos: int, local: int) -> RuleRef:
        """A zone's rule by its position in the zone."""
        return self.rules[self.first_rule[zone_pos] + local]

    def prepared(self, ref: RuleRef) -> Any:
        """The rule's kind tables."""
        return self.tables[ref.zone_pos].prepared[ref.local]


@functools.lru_cache(maxsize=16)
def plan_for(zones: tuple[Zone, ...]) -> Plan:
    """One plan per set of zones in a process, shared by every evaluator of those zones.

    A streaming job reads each vehicle's evaluator back from Beam state for every bundle; a
    shared plan makes that a lookup instead of flattening every zone's rules again. Zones
    compare by identity, and a process holds a handful of zone sets, so the cache is small.
    """
    return Plan(zones)
