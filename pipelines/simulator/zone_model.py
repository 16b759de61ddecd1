"""The zone as the simulator sees it: geometry in lon/lat and in metres, the simulated time
grid, the rule in force per case, and what each vehicle class may do without a finding."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from pilotzone.geo import LocalFrame
from pilotzone.pipelines.simulator.options import SimulationOptions, default_start
from pilotzone.pipelines.simulator.profiles import AUTONOMOUS, MANUAL, MODES, PROFILES, ClassProfile
from pilotzone.pipelines.simulator.track import BoolArray, FloatArray, IntArray
from pilotzone.zones import Zone
from pilotzone.zones.model import DrivingModeRule, DwellRule, OperatingHoursRule, Rule, SpeedLimitRule
from pilotzone.zones.rules import AppliedRule, rule_applies_to, week_minutes, winning_rule

MARGIN_M = 30.0
"""How far baseline tracks keep from the boundary and from areas they avoid: corner smoothing
plus several sigma of GPS noise."""
SPEED_MARGIN_KMH = 3.0
"""How far below the lowest limit that can apply a baseline vehicle keeps its speed cap."""


def in_frame(frame: LocalFrame, geometry: BaseGeometry) -> BaseGeometry:
    """A lon/lat geometry in the frame's metres (the frame is affine, so insideness is kept)."""

    def project(coords: FloatArray) -> FloatArray:
        return np.column_stack(frame.to_local(coords[:, 0], coords[:, 1]))

    return shapely.transform(geometry, project)


@dataclass
class Policy:
    """What a vehicle class may do in a zone during the simulated window without a finding."""

    vehicle_class: str
    profile: ClassProfile
    operators: tuple[str, ...]
    cap_kmh: float
    modes: tuple[int, ...]
    max_stop_s: float
    avoid: dict[str, frozenset[str]]
    """Areas the class keeps out of, each with why: "restricted", "speed", "mode", "hours"."""
    region: BaseGeometry
    region_m2: float
    hours_ok: bool
    problems: list[str]

    @property
    def drivable(self) -> bool:
        """Whether the class can drive here at all without breaking a rule other than hours."""
        return not self.problems

    @property
    def compliant(self) -> bool:
        """Whether a vehicle of the class can keep every rule for the whole window."""
        return self.drivable and self.hours_ok and bool(self.operators)


class ZoneModel:
    """A zone with its geometry in both frames, the simulated time grid and rule lookups."""

    def __init__(self, zone: Zone, options: SimulationOptions) -> None:
        self.zone = zone
        self.options = options
        start = options.start or default_start(zone)
        if start.tzinfo is None:
            start = start.replace(tzinfo=zone.config.tz)
        self.start = start
        self.start_ms = round(start.timestamp() * 1000)
        self.n = options.samples_per_vehicle
        self.rate = options.rate_hz
        self.t_ms: IntArray = self.start_ms + np.rint(np.arange(self.n) * (1000.0 / self.rate)).astype(
            np.int64
        )
        self.end_ms = self.start_ms + round(self.n * 1000.0 / self.rate)
        centroid = zone.boundary.centroid
        self.frame = LocalFrame.around(centroid.x, centroid.y)
        self.area_ids: tuple[str, ...] = tuple(zone.areas)
        self.boundary_ll = zone.boundary
        self.areas_ll = [zone.areas[a].geometry for a in self.area_ids]
        for geometry in (self.boundary_ll, *self.areas_ll):
            shapely.prepare(geometry)
        self.boundary_local = in_frame(self.frame, zone.boundary)
        self.areas_local = {a: in_frame(self.frame, zone.areas[a].geometry) for a in self.area_ids}
        self.inner_boundary = self.boundary_local.buffer(-MARGIN_M)
        self._init_time()
        self._winners: dict[tuple[Any, ...], AppliedRule | None] = {}
        self._policies: dict[str, Policy] = {}
        self._regions: dict[tuple[str, str], BaseGeometry] = {}
        self._permitted: dict[str, BoolArray] = {}

    def _init_time(self) -> None:
        """Minutes of the window, their local minute of the week, and schedule states."""
        tz = self.zone.config.tz
        self.minute0 = self.start_ms // 60_000
        count = int((self.end_ms - 1) // 60_000 - self.minute0 + 1)
        local = [
            dt.datetime.fromtimestamp((self.minute0 + i) * 60.0, tz).replace(tzinfo=None)
            for i in range(count)
        ]
        self.minute_of_week = np.array(
            [t.weekday() * 1440 + t.hour * 60 + t.minute for t in local], dtype=np.int64
        )
        scheduled = [week_minutes(rule.applies.schedule) for rule in self.zone.rules if rule.applies.schedule]
        state_ids: dict[tuple[bool, ...], int] = {}
        self.state_time: list[dt.datetime] = []
        states = np.empty(count, dtype=np.int64)
        for i, when in enumerate(local):
            key = tuple(bool(minutes[self.minute_of_week[i]]) for minutes in scheduled)
            if key not in state_ids:
                state_ids[key] = len(self.state_time)
                self.state_time.append(when)
            states[i] = state_ids[key]
        self.minute_state = states

    def minute_index(self, t_ms: IntArray) -> IntArray:
        """Index into the window's minutes of each timestamp."""
        return np.clip(t_ms // 60_000 - self.minute0, 0, len(self.minute_state) - 1)

    def winner(
        self,
        kind: str,
        areas: frozenset[str],
        state: int,
        vehicle_class: str,
        *,
        event: str | None = None,
        initiator: str | None = None,
    ) -> AppliedRule | None:
        """The rule of ``kind`` in force (``zones.rules`` precedence), cached per case."""
        key = (kind, areas, state, vehicle_class, event, initiator)
        if key not in self._winners:
            self._winners[key] = winning_rule(
                self.zone, kind, areas, self.state_time[state], vehicle_class, event, initiator=initiator
            )
        return self._winners[key]

    def applies(self, rule: Rule, vehicle_class: str, state: int) -> bool:
        """Whether a rule covers the class in a schedule state (areas aside)."""
        return rule_applies_to(rule, vehicle_class, self.state_time[state])

    def permitted_minutes(self, rule: OperatingHoursRule) -> BoolArray:
        """Per window minute, whether an operating-hours rule permits driving."""
        if rule.id not in self._permitted:
            self._permitted[rule.id] = week_minutes(rule.permitted)[self.minute_of_week]
        return self._permitted[rule.id]

    def states(self) -> range:
        return range(len(self.state_time))

    def policy(self, vehicle_class: str) -> Policy:
        """The class's policy in this zone (computed once)."""
        if vehicle_class not in self._policies:
            self._policies[vehicle_class] = self._make_policy(vehicle_class)
        return self._policies[vehicle_class]

    def in_force(self, kind: str, areas: frozenset[str], vehicle_class: str) -> list[Rule]:
        """The winning rule of ``kind`` in each schedule state of the window (where there is one)."""
        return [
            w.rule for s in self.states() if (w := self.winner(kind, areas, s, vehicle_class)) is not None
        ]

    def speed_limits(self, areas: frozenset[str], vehicle_class: str) -> list[SpeedLimitRule]:
        return [
            r for r in self.in_force("speed_limit", areas, vehicle_class) if isinstance(r, SpeedLimitRule)
        ]

    def dwell_limits(self, areas: frozenset[str], vehicle_class: str) -> list[float]:
        rules = self.in_force("dwell", areas, vehicle_class)
        return [r.max_dwell_s for r in rules if isinstance(r, DwellRule)]

    def _make_policy(self, vehicle_class: str) -> Policy:
        """Where the class may drive, how fast and how long it may stop, in this window.

        An area is avoided when driving in it as the class normally does could break a rule:
        it is restricted, its speed limit is well below the open road's, it forbids the modes
        the class drives in, or the class is outside its hours there. Elsewhere the speed cap
        is the lowest limit that can apply, so no precedence question can make it too fast.
        """
        profile = PROFILES[vehicle_class]
        problems: list[str] = []
        reasons: dict[str, set[str]] = {a: set() for a in self.area_ids}
        none: frozenset[str] = frozenset()
        zone_limit = min(
            (r.limit_kmh for r in self.speed_limits(none, vehicle_class)), default=profile.max_kmh
        )
        cap = min(zone_limit, profile.max_kmh)
        candidates = [AUTONOMOUS, MANUAL] if profile.has_driver else [AUTONOMOUS]
        modes = [m for m in candidates if self.mode_allowed(m, none, vehicle_class)]
        if not modes:
            problems.append("no driving mode the class can use is allowed zone-wide")
        dwell_limits = self.dwell_limits(none, vehicle_class)
        hours_ok = bool(self.hours_mask(none, vehicle_class).all())
        for rule in self.zone.rules_of_kind("restricted_area"):
            if any(self.applies(rule, vehicle_class, s) for s in self.states()):
                for area in rule.applies.areas or []:
                    if area in reasons:
                        reasons[area].add("restricted")
        for area in self.area_ids:
            inside = frozenset({area})
            area_limit = min(
                (r.limit_kmh for r in self.speed_limits(inside, vehicle_class)), default=math.inf
            )
            if area_limit < 0.75 * zone_limit:
                reasons[area].add("speed")
            if modes and not all(self.mode_allowed(m, inside, vehicle_class) for m in modes):
                reasons[area].add("mode")
            if hours_ok and not self.hours_mask(inside, vehicle_class).all():
                reasons[area].add("hours")
            if not reasons[area]:
                cap = min(cap, area_limit)
                dwell_limits.extend(self.dwell_limits(inside, vehicle_class))
        avoid = {area: frozenset(why) for area, why in reasons.items() if why}
        avoided = [self.areas_local[a].buffer(MARGIN_M) for a in avoid if a in self.areas_local]
        region = (
            self.inner_boundary.difference(shapely.union_all(avoided)) if avoided else self.inner_boundary
        )
        shapely.prepare(region)
        region_m2 = float(region.area)
        if region_m2 < 20_000:
            problems.append("no room to drive away from the areas it must avoid")
        operators = tuple(op.id for op in self.zone.config.operators if vehicle_class in op.vehicle_classes)
        max_stop = 0.4 * min(dwell_limits) if dwell_limits else profile.stop_s[1]
        return Policy(
            vehicle_class=vehicle_class,
            profile=profile,
            operators=operators,
            cap_kmh=cap - SPEED_MARGIN_KMH,
            modes=tuple(modes),
            max_stop_s=max_stop,
            avoid=avoid,
            region=region,
            region_m2=region_m2,
            hours_ok=hours_ok,
            problems=problems,
        )

    def mode_allowed(self, mode: int, areas: frozenset[str], vehicle_class: str) -> bool:
        """Whether a mode is allowed in an area set throughout the window."""
        rules = self.in_force("driving_mode", areas, vehicle_class)
        return all(MODES[mode] in r.allowed_modes for r in rules if isinstance(r, DrivingModeRule))

    def hours_mask(self, areas: frozenset[str], vehicle_class: str) -> BoolArray:
        """Per window minute, whether the class may drive there (no rule counts as yes)."""
        ok = np.ones(len(self.minute_state), dtype=np.bool_)
        for s in self.states():
            w = self.winner("operating_hours", areas, s, vehicle_class)
            if w is not None and isinstance(w.rule, OperatingHoursRule):
                in_state = self.minute_state == s
                ok[in_state] = self.permitted_minutes(w.rule)[in_state]
        return ok

    def out_of_hours_s(self, vehicle_class: str) -> float:
        """Seconds of the simulated samples that fall outside the class's zone-wide hours."""
        mask = self.hours_mask(frozenset(), vehicle_class)
        return float((~mask[self.minute_index(self.t_ms)]).sum() / self.rate)

    def corridor(self, vehicle_class: str, area: str) -> BaseGeometry:
        """Where an excursion into ``area`` may drive: the class's region plus the area."""
        key = (vehicle_class, area)
        if key not in self._regions:
            region = self.policy(vehicle_class).region
            target = (
                self.areas_local[area].buffer(MARGIN_M).intersection(self.inner_boundary.buffer(MARGIN_M / 2))
            )
            corridor = shapely.union(region, target)
            shapely.prepare(corridor)
            self._regions[key] = corridor
        return self._regions[key]

    def plain_region(self, vehicle_class: str) -> BaseGeometry:
        """The class's region outside every area with a speed rule for it: only zone-wide
        speed limits are in force there, so a speeding run there breaks a known rule."""
        key = (vehicle_class, "")
        if key not in self._regions:
            scoped = [
                self.areas_local[a].buffer(MARGIN_M)
                for a in self.area_ids
                if any(
                    rule.applies.areas and a in rule.applies.areas and self.applies(rule, vehicle_class, s)
                    for rule in self.zone.rules_of_kind("speed_limit")
                    for s in self.states()
                )
            ]
            region = self.policy(vehicle_class).region
            plain = region.difference(shapely.union_all(scoped)) if scoped else region
            shapely.prepare(plain)
            self._regions[key] = plain
        return self._regions[key]

    def compliant_classes(self) -> list[str]:
        return [c for c in PROFILES if self.policy(c).compliant]
