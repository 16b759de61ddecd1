"""Which vehicle of a zone gets which injection, decided up front from the seed, and why a kind
cannot be injected at all."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from pilotzone.pipelines.simulator.opportunities import (
    dwell_rules,
    event_rules,
    hours_areas,
    hours_classes,
    mode_options,
    restricted_areas,
    rule_values,
    speed_options,
)
from pilotzone.pipelines.simulator.options import SimulationError, SimulationOptions
from pilotzone.pipelines.simulator.profiles import PROFILES
from pilotzone.pipelines.simulator.zone_model import ZoneModel
from pilotzone.zones.model import RULE_KINDS


@dataclass(frozen=True)
class Task:
    """One vehicle to simulate: its zone, index in the zone, injected kinds and whether it gets a defect."""

    zone_pos: int
    index: int
    kinds: tuple[str, ...]
    defect: bool


@dataclass
class ZonePlan:
    """A zone's tasks, the injections asked for per kind, and the kinds that cannot be injected (why)."""

    model: ZoneModel
    tasks: list[Task]
    requested: dict[str, int]
    not_injectable: dict[str, str]


def plan_zone(model: ZoneModel, options: SimulationOptions, zone_pos: int) -> ZonePlan:
    """Choose, deterministically from the seed, which vehicles get which injections.

    Counts are exact (rate × vehicles, rounded) so a manifest can be checked against the
    ground truth. Kinds are dealt out over one shuffled order, so vehicles rarely get more
    than one kind unless the rates add up to more than one; defects go to the vehicles
    dealt last, so they seldom share a vehicle with an injected violation.
    """
    compliant = model.compliant_classes()
    if not compliant:
        reasons = "; ".join(f"{c}: {', '.join(why_not(model, c))}" for c in PROFILES)
        raise SimulationError(
            f"zone {model.zone.zone_id}: no vehicle class can drive there without breaking a rule during the "
            f"simulated window ({reasons}); choose a --start inside the zone's operating hours"
        )
    gap_rules = [
        rule
        for rule in model.zone.rules_of_kind("telemetry_gap")
        if any(model.applies(rule, c, s) for c in compliant for s in model.states())
    ]
    tightest_gap = min(rule_values(gap_rules, "max_gap_s"), default=math.inf)
    if 1.0 / options.rate_hz >= tightest_gap:
        raise SimulationError(
            f"--rate {options.rate_hz}: zone {model.zone.zone_id} allows telemetry gaps of at most "
            f"{tightest_gap:g} s, so every vehicle would break it; sample faster than {1 / tightest_gap:g} Hz"
        )
    rng = np.random.default_rng([options.seed, zone_key(model.zone.zone_id), 0x504C414E])
    order = rng.permutation(options.vehicles)
    kinds: dict[int, list[str]] = {}
    requested: dict[str, int] = {}
    not_injectable: dict[str, str] = {}
    cursor = 0
    for kind in RULE_KINDS:
        count = math.floor(options.inject.get(kind, 0.0) * options.vehicles + 0.5)
        if count == 0:
            continue
        requested[kind] = count
        reason = why_not_injectable(model, kind)
        if reason is not None:
            not_injectable[kind] = reason
            continue
        for _ in range(count):
            kinds.setdefault(int(order[cursor % options.vehicles]), []).append(kind)
            cursor += 1
    defect_count = math.floor(options.defects * options.vehicles + 0.5)
    defective = {int(v) for v in order[::-1][:defect_count]}
    tasks = [
        Task(zone_pos, i, tuple(dict.fromkeys(kinds.get(i, []))), i in defective)
        for i in range(options.vehicles)
    ]
    return ZonePlan(model, tasks, requested, not_injectable)


def zone_key(zone_id: str) -> int:
    """A stable number for a zone id, to seed random streams (``hash()`` varies per process)."""
    return int.from_bytes(hashlib.sha256(zone_id.encode()).digest()[:4], "big")


def why_not(model: ZoneModel, vehicle_class: str) -> list[str]:
    """Why a class cannot drive in the zone without a finding during the window."""
    policy = model.policy(vehicle_class)
    reasons = list(policy.problems)
    if not policy.hours_ok:
        reasons.append("outside its operating hours")
    if not policy.operators:
        reasons.append("no operator holds a permit for it")
    return reasons


def why_not_injectable(model: ZoneModel, kind: str) -> str | None:
    """Why a rule kind cannot be injected in this zone and window, or None if it can."""
    rules = model.zone.rules_of_kind(kind)
    if not rules:
        return f"the zone has no {kind} rule"
    compliant = model.compliant_classes()
    covered = [c for c in compliant if any(model.applies(r, c, s) for r in rules for s in model.states())]
    duration = model.n / model.rate
    if kind == "operating_hours":
        if hours_classes(model) or hours_areas(model):
            return None
        return (
            "every class is permitted for the whole simulated window in every place it can drive; "
            "choose a --start or --duration that reaches outside some class's operating hours"
        )
    if kind == "permit":
        return None if covered else "no permit rule applies to a class that can drive here"
    if not covered:
        return f"no {kind} rule applies to a vehicle class that can drive here in the simulated window"
    if kind == "speed_limit" and not any(speed_options(model, c) for c in covered):
        return "no class can drive fast enough to exceed the limits that apply to it"
    if kind == "telemetry_gap":
        longest = max(rule_values(rules, "max_gap_s"))
        if duration < 4 * longest + 60:
            return f"a {duration:g} s run is too short for a gap beyond max_gap_s {longest:g} s"
    if kind == "dwell" and not any(dwell_rules(model, c) for c in covered):
        shortest = min(rule_values(rules, "max_dwell_s"))
        return f"a {duration:g} s run is too short to stop beyond max_dwell_s {shortest:g} s"
    if kind == "driving_mode" and not any(mode_options(model, c) for c in covered):
        return "no driving_mode rule forbids a mode the covered classes can drive in"
    if kind == "restricted_area" and not any(restricted_areas(model, c) for c in covered):
        return "no restricted area a vehicle can reach"
    if kind == "vehicle_event" and not any(event_rules(model, c) for c in covered):
        return "no vehicle_event rule for an event the covered classes can report"
    return None
