"""Where and how each rule kind can be broken in a zone: the places, classes and targets an
injection of that kind can use, so planning never asks a vehicle for the impossible."""

from __future__ import annotations

from collections.abc import Sequence

from pilotzone.pipelines.simulator.profiles import MANUAL, MODE_CODE, PROFILES
from pilotzone.pipelines.simulator.zone_model import Policy, ZoneModel
from pilotzone.zones.model import DwellRule, EventKind, Rule, VehicleEventRule


def rule_values(rules: Sequence[Rule], name: str) -> list[float]:
    """A numeric parameter (``max_gap_s``, ``grace_s`` ...) of those rules that have it."""
    return [float(getattr(rule, name)) for rule in rules if hasattr(rule, name)]


def applicable_rules(model: ZoneModel, kind: str, vehicle_class: str) -> list[Rule]:
    """The kind's rules that cover the class at some time in the window."""
    return [
        r
        for r in model.zone.rules_of_kind(kind)
        if any(model.applies(r, vehicle_class, s) for s in model.states())
    ]


def longest_grace(model: ZoneModel, kind: str, vehicle_class: str) -> float:
    """The longest grace period of the kind's rules for the class (0 if they have none)."""
    return max(rule_values(applicable_rules(model, kind, vehicle_class), "grace_s"), default=0.0)


def hours_classes(model: ZoneModel) -> list[str]:
    """Classes that can drive but are outside their zone-wide hours for part of the window."""
    found = []
    for c in PROFILES:
        policy = model.policy(c)
        if not policy.drivable or policy.hours_ok or not policy.operators:
            continue
        grace = max(rule_values(model.zone.rules_of_kind("operating_hours"), "grace_s"), default=0.0)
        if model.out_of_hours_s(c) >= grace + 20:
            found.append(c)
    return found


def hours_areas(model: ZoneModel) -> list[tuple[str, str]]:
    """(class, area) pairs: a compliant class and an area it must avoid for operating hours."""
    return [(c, area) for c in model.compliant_classes() for area in areas_for(model.policy(c), "hours")]


def speed_options(model: ZoneModel, vehicle_class: str) -> list[tuple[str | None, float]]:
    """Where a class can speed: (area or None for the open road, target km/h).

    The target clears the limit in force there by 10 km/h; on the open road the speeding leg
    stays out of every area with its own limit. In an area, the target stays below the open
    road's limit, so the drive in and out is not speeding too.
    """
    policy = model.policy(vehicle_class)
    options: list[tuple[str | None, float]] = []
    open_road = model.speed_limits(frozenset(), vehicle_class)
    if open_road and model.plain_region(vehicle_class).area > 100_000:
        target = max(r.limit_kmh + r.tolerance_kmh for r in open_road) + 10
        if target + 6 <= policy.profile.max_kmh:
            options.append((None, target))
    for area in areas_for(policy, "speed"):
        rules = model.speed_limits(frozenset({area}), vehicle_class)
        target = max(r.limit_kmh + r.tolerance_kmh for r in rules) + 10
        if target + 6 <= min(policy.profile.max_kmh, policy.cap_kmh):
            options.append((area, target))
    return options


def mode_options(model: ZoneModel, vehicle_class: str) -> list[tuple[str | None, int]]:
    """Where and in which mode a class can break a driving_mode rule: (area or None, mode)."""
    policy = model.policy(vehicle_class)
    options: list[tuple[str | None, int]] = []
    for area in areas_for(policy, "mode"):
        inside = frozenset({area})
        options.extend(
            (area, mode) for mode in policy.modes if not model.mode_allowed(mode, inside, vehicle_class)
        )
    # Zone-wide: a stretch in a mode the zone does not allow (a remote operator driving, a
    # safety driver taking the wheel, a mode the vehicle cannot determine).
    producible = [MODE_CODE["REMOTE_OPERATED"], MODE_CODE["UNKNOWN"]]
    if policy.profile.has_driver:
        producible.insert(0, MANUAL)
    for mode in producible:
        if mode not in policy.modes and not model.mode_allowed(mode, frozenset(), vehicle_class):
            options.append((None, mode))
    return options


def restricted_areas(model: ZoneModel, vehicle_class: str) -> list[str]:
    """Restricted areas a class can enter without breaking another area's rules."""
    policy = model.policy(vehicle_class)
    return areas_for(policy, "restricted")


def areas_for(policy: Policy, reason: str) -> list[str]:
    """Avoided areas a vehicle can enter to break only the rules behind ``reason``.

    Also being avoided for speed or mode is fine (the drive in keeps the area's limit and a
    mode allowed there); for being restricted or out of hours it is not.
    """
    return [
        area
        for area, why in policy.avoid.items()
        if reason in why and not (why - {reason}) & ({"restricted", "hours"} - {reason})
    ]


def event_rules(model: ZoneModel, vehicle_class: str) -> list[VehicleEventRule]:
    """Vehicle-event rules a vehicle of the class can trigger by reporting the event."""
    found = []
    has_driver = PROFILES[vehicle_class].has_driver
    policy = model.policy(vehicle_class)
    for rule in model.zone.rules_of_kind("vehicle_event"):
        if not isinstance(rule, VehicleEventRule):
            continue
        if not any(model.applies(rule, vehicle_class, s) for s in model.states()):
            continue
        if rule.event == EventKind.DISENGAGEMENT and not has_driver:
            continue
        if rule.applies.areas is not None and not any(
            a in model.zone.areas and a not in policy.avoid for a in rule.applies.areas
        ):
            continue
        found.append(rule)
    return found


def dwell_rules(model: ZoneModel, vehicle_class: str) -> list[tuple[str | None, float]]:
    """Where a class can overstay: (area or None for zone-wide, max_dwell_s of the winner).

    Only places it may otherwise be, and only limits the simulated window is long enough to
    overstay (the stop lasts about 1.5 times the limit, away from the window's ends).
    """
    policy = model.policy(vehicle_class)
    found: list[tuple[str | None, float]] = []
    found.extend((None, limit) for limit in model.dwell_limits(frozenset(), vehicle_class)[:1])
    for area in model.area_ids:
        if area in policy.avoid:
            continue
        w = model.winner("dwell", frozenset({area}), 0, vehicle_class)
        if w is not None and w.area == area and isinstance(w.rule, DwellRule):
            found.append((area, w.rule.max_dwell_s))
    duration = model.n / model.rate
    return [(area, limit) for area, limit in found if duration >= 2 * limit + 120]
