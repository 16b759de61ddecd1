"""How each MDS rule type reads as a zone rule kind: speed, time and count.

Each function takes one MDS rule (and the states it names), returns the zone rule's
kind-specific fields (or, for a count cap, the cap), and records on the rule's outcome every
way the meaning differs, or why it cannot be imported at all.
"""

from __future__ import annotations

from typing import Any

from pilotzone.zones.mds.report import RuleOutcome
from pilotzone.zones.mds.units import kmh_from, seconds_from
from pilotzone.zones.model import TimeWindow, VehicleClass

MOVING_STATES = frozenset({"on_trip", "reserved"})
"""MDS states of a vehicle that drives (a speed limit's natural states)."""
STATIONARY_STATES = frozenset({"available", "non_operational"})
"""MDS states of a vehicle that stands (a dwell limit's natural states)."""
MAX_DWELL_S = 86400
MAX_LIMIT_KMH = 200


def states_note(
    states: frozenset[str] | None, wanted: frozenset[str], what: str, raw: dict[str, Any]
) -> str | None:
    """How a rule narrowed to MDS states or events differs here (None: it does not)."""
    events = sorted({e for v in (raw.get("states") or {}).values() if isinstance(v, list) for e in v})
    if events:
        return f"MDS counts only events {', '.join(events)}; the monitor sees no MDS events, so {what}"
    if states is not None and not wanted <= states:
        return f"MDS applies it in states {', '.join(sorted(states))} only; telemetry has no MDS state, so {what}"
    return None


def speed_rule(
    raw: dict[str, Any], states: frozenset[str] | None, outcome: RuleOutcome
) -> dict[str, Any] | None:
    """An MDS speed rule as ``speed_limit`` fields, the limit converted exactly to km/h."""
    units, maximum = raw.get("rule_units"), raw.get("maximum")
    if units not in {"mph", "kph"}:
        outcome.refuse(f"speed rule_units {units!r}: expected mph or kph")
        return None
    if not isinstance(maximum, int | float) or maximum <= 0:
        outcome.refuse("a speed rule without a positive maximum limits nothing the monitor can check")
        return None
    limit = kmh_from(maximum, units)
    if limit > MAX_LIMIT_KMH:
        outcome.refuse(
            f"{maximum} {units} is {limit:g} km/h, above the {MAX_LIMIT_KMH} km/h a zone limit may be"
        )
        return None
    if raw.get("minimum"):
        outcome.approximate(
            f"the minimum speed {raw['minimum']} {units} is not checked (zones have no minimum speeds)"
        )
    if raw.get("inclusive_maximum") is False:
        outcome.approximate(
            "MDS counts a speed exactly at the maximum as a violation; the monitor only above it"
        )
    note = states_note(states, MOVING_STATES, "the limit applies whatever the vehicle is doing", raw)
    if note:
        outcome.approximate(note)
    outcome.notes.append(f"{maximum} {units} = {limit!r} km/h exactly")
    return {"kind": "speed_limit", "limit_kmh": limit, "grace_s": 0}


def time_rule(
    raw: dict[str, Any], states: frozenset[str] | None, outcome: RuleOutcome
) -> dict[str, Any] | None:
    """An MDS time rule over stationary states as ``dwell`` fields (seconds, exactly)."""
    units, maximum = raw.get("rule_units"), raw.get("maximum")
    if states is not None and not states & (STATIONARY_STATES | {"reserved", "stopped"}):
        outcome.refuse(
            f"a time limit in states {', '.join(sorted(states))} is not a limit on standing still (dwell)"
        )
        return None
    if not isinstance(maximum, int | float) or units is None:
        outcome.refuse("a time rule without a maximum and rule_units limits nothing the monitor can check")
        return None
    try:
        seconds = seconds_from(maximum, units)
    except ValueError as exc:
        outcome.refuse(str(exc))
        return None
    if seconds <= 0:
        outcome.refuse("maximum 0: no standing at all; a dwell rule needs a positive max_dwell_s")
        return None
    if seconds > MAX_DWELL_S:
        outcome.refuse(
            f"{maximum} {units} is {seconds} s, above the {MAX_DWELL_S} s (24 h) a dwell rule may allow"
        )
        return None
    if raw.get("minimum"):
        outcome.approximate(f"the minimum {raw['minimum']} {units} is not checked")
    if raw.get("inclusive_maximum") is False:
        outcome.approximate(
            "MDS counts a stay of exactly the maximum as a violation; the monitor only a longer one"
        )
    note = states_note(
        states, STATIONARY_STATES, "it counts time stopped in one place, whatever the vehicle's state", raw
    )
    if note or states is None or states - STATIONARY_STATES:
        outcome.approximate(
            note or "MDS counts time spent in a state; the monitor counts time stopped in one place (dwell)"
        )
    return {"kind": "dwell", "max_dwell_s": int(seconds) if seconds == int(seconds) else float(seconds)}


def count_rule(
    raw: dict[str, Any],
    classes: list[VehicleClass] | None,
    schedule: list[TimeWindow] | None,
    states: frozenset[str] | None,
    outcome: RuleOutcome,
) -> tuple[dict[str, Any] | None, int | None]:
    """An MDS count rule: ``maximum: 0`` is a ``restricted_area``; a cap is returned as the
    second value, for the caller to place as fleet caps."""
    maximum, minimum = raw.get("maximum"), raw.get("minimum")
    if maximum == 0:
        note = states_note(states, MOVING_STATES | STATIONARY_STATES, "no vehicle may be inside at all", raw)
        if note:
            outcome.approximate(note)
        return {"kind": "restricted_area"}, None
    if maximum is None:
        if minimum:
            outcome.refuse(f"a minimum of {minimum} vehicles (a distribution requirement) is not monitored")
        else:
            outcome.refuse(
                "no maximum: the rule limits nothing, but it still takes its vehicles away from later rules"
            )
        return None, None
    if not isinstance(maximum, int) or maximum < 0:
        outcome.refuse(f"maximum {maximum!r} is not a number of vehicles")
        return None, None
    if schedule is not None:
        outcome.refuse("a cap in force only at some times cannot be a fleet cap (fleet caps hold always)")
        return None, None
    if minimum:
        outcome.approximate(f"the minimum of {minimum} vehicles is not monitored")
    if classes is not None:
        outcome.approximate("the cap counts vehicles of every class here, not only the rule's vehicle types")
    note = states_note(
        states, MOVING_STATES | STATIONARY_STATES, "the cap counts vehicles in every state", raw
    )
    if note:
        outcome.approximate(note)
    return None, maximum


__all__ = [
    "MAX_DWELL_S",
    "MAX_LIMIT_KMH",
    "MOVING_STATES",
    "STATIONARY_STATES",
    "count_rule",
    "speed_rule",
    "states_note",
    "time_rule",
]
