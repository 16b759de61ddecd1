"""One vehicle's plan: its class, and each injection as an excursion on the route (``Special``)
or something placed in time (``Timed``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pilotzone.pipelines.simulator.opportunities import (
    applicable_rules,
    dwell_rules,
    event_rules,
    hours_areas,
    hours_classes,
    mode_options,
    restricted_areas,
    rule_values,
    speed_options,
)
from pilotzone.pipelines.simulator.profiles import MODE_CODE, PROFILES
from pilotzone.pipelines.simulator.zone_model import SPEED_MARGIN_KMH, Policy, ZoneModel
from pilotzone.zones.model import EventKind, Initiator, VehicleEventRule


@dataclass
class Drive:
    """One attempt at one vehicle: its zone, random stream, class policy and cruise speed."""

    model: ZoneModel
    rng: np.random.Generator
    policy: Policy
    cruise_kmh: float


@dataclass
class Special:
    """A planned excursion on the route: ``shape`` is a straight "speed" leg, an "area" chord
    (into an area and out) or a "boundary" loop (out of the zone and back)."""

    injection: str
    shape: str
    area: str | None = None
    cap_kmh: float | None = None
    stop_s: float = 0.0
    event: tuple[str, str | None] | None = None
    mode: int | None = None
    tag: int = 0


@dataclass
class Timed:
    """Injections placed in time rather than on the route."""

    gap_s: float = 0.0
    gap_resumes: bool = True
    stop_s: float = 0.0
    stop_event: tuple[str, str | None] | None = None
    stop_mode: int | None = None
    event: tuple[str, str | None] | None = None
    mode_stretch: tuple[int, float] | None = None
    background_event: str | None = None
    operator_id: str | None = None


class NoPlaceError(Exception):
    """An injection (``kind``, or None for the route itself) found no place on this attempt."""

    def __init__(self, kind: str | None, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def choose_class(
    model: ZoneModel, rng: np.random.Generator, kinds: list[str]
) -> tuple[str, list[str], list[tuple[str, str]]]:
    """A vehicle class that can carry every wanted injection, dropping kinds that cannot fit.

    A vehicle driving outside its hours can carry other injections too: those need a class
    that keeps every rule but the hours.
    """
    compliant = model.compliant_classes()
    dropped: list[tuple[str, str]] = []
    allowed = set(compliant)
    while kinds:
        allowed = set(PROFILES)
        for kind in kinds:
            allowed &= set(classes_for(model, kind, hours_exempt="operating_hours" in kinds))
        if allowed:
            break
        dropped.append((kinds[-1], f"no vehicle class can carry it together with {', '.join(kinds[:-1])}"))
        kinds = kinds[:-1]
    pool = sorted(allowed) if kinds else compliant
    weights = np.array([PROFILES[c].weight for c in pool])
    return str(rng.choice(pool, p=weights / weights.sum())), kinds, dropped


def classes_for(model: ZoneModel, kind: str, *, hours_exempt: bool = False) -> list[str]:
    """Classes a vehicle injected with ``kind`` can be (``hours_exempt``: it may be outside
    its operating hours anyway)."""
    if kind == "operating_hours":
        return sorted(set(hours_classes(model)) | {c for c, _ in hours_areas(model)})
    base = [
        c
        for c in PROFILES
        if model.policy(c).drivable
        and model.policy(c).operators
        and (hours_exempt or model.policy(c).hours_ok)
    ]
    rules = model.zone.rules_of_kind(kind)
    covered = [c for c in base if any(model.applies(r, c, s) for r in rules for s in model.states())]
    usable: dict[str, Callable[[ZoneModel, str], Sequence[Any]]] = {
        "speed_limit": speed_options,
        "driving_mode": mode_options,
        "restricted_area": restricted_areas,
        "vehicle_event": event_rules,
        "dwell": dwell_rules,
    }
    if kind in usable:
        return [c for c in covered if usable[kind](model, c)]
    return covered


def plan_injection(drive: Drive, kind: str, specials: list[Special], timed: Timed) -> str | None:
    """Add one injection to the vehicle's plan; returns why it cannot be, or None."""
    model, rng, policy = drive.model, drive.rng, drive.policy
    c = policy.vehicle_class
    duration = model.n / model.rate

    def pick(options: Sequence[Any]) -> Any:
        return options[int(rng.integers(len(options)))]

    def into(area: str, **extra: Any) -> str | None:
        mode = mode_for_area(model, policy, area)
        if mode is None:
            return f"no driving mode {c} can use is allowed in {area}"
        specials.append(Special(kind, "area", area, area_cap(model, policy, area), mode=mode, **extra))
        return None

    if kind == "speed_limit":
        area, target = pick(speed_options(model, c))
        target = min(target + float(rng.uniform(0, 6)), policy.profile.max_kmh)
        if area is None:
            specials.append(Special(kind, "speed", None, target))
            return None
        mode = mode_for_area(model, policy, area)
        if mode is None:
            return f"no driving mode {c} can use is allowed in {area}"
        specials.append(Special(kind, "area", area, target, mode=mode))
    elif kind == "leave_boundary":
        specials.append(Special(kind, "boundary"))
    elif kind == "restricted_area":
        return into(pick(restricted_areas(model, c)))
    elif kind == "operating_hours":
        if c not in hours_classes(model):
            return into(pick([a for cls, a in hours_areas(model) if cls == c]))
        # Otherwise the class itself is outside its hours for part of the window.
    elif kind == "telemetry_gap":
        max_gap = min(rule_values(applicable_rules(model, kind, c), "max_gap_s"))
        timed.gap_s = max_gap * float(rng.uniform(2.0, 3.0)) + 2.0 / model.rate
        # Now and then a vehicle goes silent for good (power loss, modem failure).
        timed.gap_resumes = not (rng.random() < 0.2 and duration >= 6 * max_gap)
    elif kind == "driving_mode":
        area, mode = pick(mode_options(model, c))
        if area is None:
            grace = max(rule_values(applicable_rules(model, kind, c), "grace_s"), default=0.0)
            timed.mode_stretch = (mode, grace + float(rng.uniform(15, 45)))
        else:
            specials.append(Special(kind, "area", area, area_cap(model, policy, area), mode=mode))
    elif kind == "dwell":
        area, limit = pick(dwell_rules(model, c))
        stop = limit * float(rng.uniform(1.3, 1.7)) + 15
        if area is None:
            timed.stop_s = stop
        else:
            return into(area, stop_s=stop)
    elif kind == "permit":
        others = [op for op in model.zone.config.operators if c not in op.vehicle_classes]
        if others and rng.random() < 0.5:
            timed.operator_id = pick(others).id  # a real operator, not permitted this class
        else:
            timed.operator_id = f"op-unlicensed-{int(rng.integers(16**4)):04x}"
    elif kind == "vehicle_event":
        reportable = event_rules(model, c)
        weights = np.array([0.15 if r.event == EventKind.COLLISION else 1.0 for r in reportable])
        rule = reportable[int(rng.choice(len(reportable), p=weights / weights.sum()))]
        event = (rule.event.value, initiator_for(rng, rule, policy))
        if rule.applies.areas is not None:
            return into(
                pick([a for a in rule.applies.areas if a in model.zone.areas and a not in policy.avoid]),
                event=event,
            )
        if rule.event in (EventKind.MINIMAL_RISK_MANOEUVRE, EventKind.COLLISION, EventKind.EMERGENCY_STOP):
            timed.stop_s = min(policy.max_stop_s, float(rng.uniform(20, 60)))
            timed.stop_event = event
            if rule.event == EventKind.MINIMAL_RISK_MANOEUVRE:
                timed.stop_mode = MODE_CODE["MINIMAL_RISK_MANOEUVRE"]
        else:
            timed.event = event
    return None


def initiator_for(rng: np.random.Generator, rule: VehicleEventRule, policy: Policy) -> str | None:
    """Who starts the event: what the rule asks for, else who plausibly would."""
    if rule.initiated_by:
        choices = [
            i.value for i in rule.initiated_by if i != Initiator.SAFETY_DRIVER or policy.profile.has_driver
        ]
        return choices[int(rng.integers(len(choices)))] if choices else rule.initiated_by[0].value
    if rule.event == EventKind.DISENGAGEMENT:
        return "SAFETY_DRIVER" if rng.random() < 0.6 else "SYSTEM"
    if rule.event == EventKind.REMOTE_TAKEOVER:
        return "REMOTE_OPERATOR"
    if rule.event in (EventKind.MINIMAL_RISK_MANOEUVRE, EventKind.EMERGENCY_STOP, EventKind.HARSH_BRAKING):
        return "SYSTEM"
    return None


def mode_for_area(model: ZoneModel, policy: Policy, area: str) -> int | None:
    """A mode the class normally drives in that is allowed inside ``area`` (None if none is)."""
    inside = frozenset({area})
    return next((m for m in policy.modes if model.mode_allowed(m, inside, policy.vehicle_class)), None)


def area_cap(model: ZoneModel, policy: Policy, area: str) -> float:
    """Speed for a drive through an area that keeps its limit."""
    limits = model.speed_limits(frozenset({area}), policy.vehicle_class)
    return min([policy.cap_kmh, *(r.limit_kmh - SPEED_MARGIN_KMH for r in limits)])
