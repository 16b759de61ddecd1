"""MDS policies and geographies -> zone configs, with every rule's outcome reported.

One policy becomes one zone config (YAML-ready dict) and one GeoJSON file with its boundary
and areas. Rule by rule:

- ``speed`` -> ``speed_limit`` (``limit_kmh`` converted exactly, see ``units``; grace 0,
  because MDS has none);
- ``time`` over stationary states -> ``dwell`` (``max_dwell_s``);
- ``count`` with ``maximum: 0`` -> ``restricted_area``; a count cap over the whole zone ->
  every operator's ``max_vehicles`` (MDS counts per provider); a count rule without a
  maximum -> nothing to check, but it still takes its vehicles away from later rules;
- ``rate`` and ``user`` rules, minimums, caps on part of the zone -> not imported, with why.

Each rule keeps its MDS ``rule_id`` as its id, so incidents cite the city's rule; the
policy's id, dates, ``prev_policies`` and every original rule are kept in the config's
``source``. MDS's first-match order becomes explicit precedence: a ``priority`` that falls
with the rule's position for the kinds where one rule wins at a point, and areas cut down
where an earlier rule of another kind takes the vehicles (``scope``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely

from pilotzone.zones.kinds import OVERRIDING_KINDS
from pilotzone.zones.mds.documents import MdsGeography, MdsPolicy
from pilotzone.zones.mds.report import PolicyOutcome, RuleOutcome
from pilotzone.zones.mds.rule_types import count_rule, speed_rule, time_rule
from pilotzone.zones.mds.scope import Scope, capture, overlap, states_of
from pilotzone.zones.mds.shapes import ShapeError, area_of, geojson
from pilotzone.zones.mds.units import (
    DEFAULT_VEHICLE_CLASSES,
    ScheduleError,
    schedule_from,
    vehicle_classes,
)
from pilotzone.zones.model import AreaKind, TimeWindow, VehicleClass

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ANY_PROVIDER = "mds-any-provider"

_AREA_KINDS = {
    "stop": AreaKind.PICKUP_DROPOFF,
    "no_ride_zone": AreaKind.RESTRICTED_AREA,
    "municipal_boundary": AreaKind.DISTRICT,
    "council_district": AreaKind.DISTRICT,
    "neighborhood": AreaKind.DISTRICT,
    "right_of_way": AreaKind.CORRIDOR,
}


@dataclass(frozen=True)
class ImportOptions:
    """How to read policies that leave things unsaid (timezone, vehicle classes, providers)."""

    timezone: str
    zone_id: str | None = None
    vehicle_classes: Mapping[str, Sequence[VehicleClass]] = field(
        default_factory=lambda: dict(DEFAULT_VEHICLE_CLASSES)
    )
    operators: Sequence[str] = ()
    boundary_geography: str | None = None


@dataclass
class ImportedZone:
    """One policy's zone config (YAML-ready) and the GeoJSON its geometry sources point at."""

    config: dict[str, Any]
    geojson: dict[str, Any]
    geojson_name: str


@dataclass
class _Draft:
    """One MDS rule on its way to a zone rule."""

    raw: dict[str, Any]
    outcome: RuleOutcome
    geography_ids: list[str] = field(default_factory=list)
    scope: Scope | None = None
    rule: dict[str, Any] | None = None
    cap: int | None = None
    geometry: Any = None


class _Shapes:
    """Each geography's area, made once per policy, with the notes on what was changed."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[Any, list[str]]] = {}

    def of(self, geography: MdsGeography) -> tuple[Any, list[str]]:
        """The area (None if it has none) and its notes (the reason, if None)."""
        if geography.geography_id not in self._made:
            try:
                self._made[geography.geography_id] = area_of(geography.features)
            except ShapeError as exc:
                self._made[geography.geography_id] = (None, [str(exc)])
        return self._made[geography.geography_id]


def slug(text: str) -> str:
    """A zone id from a name: lower-case letters, digits and hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "mds-policy"


def import_policy(
    policy: MdsPolicy, geographies: Mapping[str, MdsGeography], options: ImportOptions, zone_id: str
) -> tuple[ImportedZone | None, PolicyOutcome]:
    """One policy as a zone config, or None (refused); the outcome says why, rule by rule."""
    outcome = PolicyOutcome(policy.policy_id, policy.name)
    shapes = _Shapes()
    drafts = [
        _draft(i, raw, len(policy.rules), geographies, shapes, options, outcome)
        for i, raw in enumerate(policy.rules)
    ]
    for later_index, later in enumerate(drafts):
        if later.rule is not None:
            _first_match(later, drafts[:later_index])
    boundary = _boundary(drafts, geographies, shapes, options, outcome)
    operators = _operators(policy, drafts, options, outcome, boundary)
    rules = [d.rule for d in drafts if d.rule is not None]
    if not rules:
        outcome.status = "refused"
        outcome.notes.append(
            "no rule of this policy can be monitored (see each rule), and a zone config needs at least one rule"
        )
        return None, outcome
    if boundary is None:
        outcome.status = "refused"
        return None, outcome
    outcome.zone_id = zone_id
    areas, features = _areas(drafts, geographies, shapes)
    features.insert(0, {"type": "Feature", "properties": {"area": "boundary"}, "geometry": geojson(boundary)})
    geojson_name = f"{zone_id}.geojson"
    config: dict[str, Any] = {
        "zone_id": zone_id,
        "name": policy.name,
        "timezone": options.timezone,
        "authority": f"MDS policy {policy.policy_id}",
        "boundary": {"file": geojson_name, "where": {"area": "boundary"}},
        "operators": operators,
        "areas": [{**a, "geometry": {"file": geojson_name, "where": {"area": a["id"]}}} for a in areas],
        "rules": rules,
        "source": _source(policy, geographies),
    }
    outcome.notes.append(
        "start_date, end_date and prev_policies are kept in the config's source as data only: the monitor applies "
        "a loaded config whenever it is loaded (it keeps no config history yet)"
    )
    return ImportedZone(config, {"type": "FeatureCollection", "features": features}, geojson_name), outcome


def _source(policy: MdsPolicy, geographies: Mapping[str, MdsGeography]) -> dict[str, Any]:
    raw = policy.raw
    named = {str(g) for rule in policy.rules for g in rule.get("geographies") or []}
    kept = (
        "name",
        "geography_type",
        "description",
        "published_date",
        "effective_date",
        "retire_date",
        "prev_geographies",
    )
    return {
        "format": "MDS Policy",
        "mds_version": policy.version,
        "policy_id": policy.policy_id,
        "name": raw.get("name"),
        "description": raw.get("description"),
        "provider_ids": raw.get("provider_ids"),
        "published_date": raw.get("published_date"),
        "start_date": raw.get("start_date"),
        "end_date": raw.get("end_date"),
        "prev_policies": raw.get("prev_policies"),
        "rules": policy.rules,
        "geographies": {
            g: {k: geographies[g].raw[k] for k in kept if k in geographies[g].raw}
            for g in sorted(named)
            if g in geographies
        },
    }


def _draft(  # noqa: PLR0917 - one rule with the policy-wide context it is read in
    index: int,
    raw: dict[str, Any],
    count: int,
    geographies: Mapping[str, MdsGeography],
    shapes: _Shapes,
    options: ImportOptions,
    policy_outcome: PolicyOutcome,
) -> _Draft:
    rule_type = str(raw.get("rule_type"))
    outcome = RuleOutcome(index + 1, str(raw.get("rule_id")), str(raw.get("name", "")), rule_type)
    policy_outcome.rules.append(outcome)
    draft = _Draft(raw, outcome)
    given = raw.get("geographies")
    ids: list[Any] = given if isinstance(given, list) else []
    draft.geography_ids = [str(g) for g in ids]
    missing = [g for g in draft.geography_ids if g not in geographies]
    if missing or not ids:
        outcome.refuse(
            f"geography {', '.join(missing)} is not in the geographies given: pass the Geography document that holds it"
            if missing
            else "the rule names no geographies"
        )
        return draft
    geometry = _geometry(draft.geography_ids, geographies, shapes, outcome)
    if geometry is None:
        return draft
    draft.geometry = geometry
    classes, unmapped = vehicle_classes(raw.get("vehicle_types"), options.vehicle_classes)
    try:
        schedule = schedule_from(raw.get("days"), raw.get("start_time"), raw.get("end_time"))
    except ScheduleError as exc:
        outcome.refuse(str(exc))
        return draft
    states = states_of(raw)
    draft.scope = Scope.of(geometry, classes, schedule, states)
    if raw.get("rule_type") in {"rate", "user"}:
        outcome.refuse(
            "rate rules are fees and user rules are messages to riders: neither is a compliance check the monitor makes"
        )
        return draft
    all_types = raw.get("vehicle_types") or []
    if all_types and len(unmapped) == len(all_types):
        outcome.refuse(
            f"vehicle types {', '.join(unmapped)} have no vehicle class here: map them, e.g. "
            f"--map-vehicle-type {unmapped[0]}=DELIVERY_ROBOT"
        )
        return draft
    if unmapped:
        outcome.approximate(
            f"vehicle types {', '.join(unmapped)} have no vehicle class here and are left out"
        )
    for key in ("rate_amount", "value_url", "propulsion_types", "messages"):
        if raw.get(key):
            outcome.notes.append(f"{key} is kept in the config's source only (the monitor does not use it)")
    applies: dict[str, Any] = {"areas": [_area_id(g) for g in draft.geography_ids]}
    if classes is not None:
        applies["vehicle_classes"] = [str(c) for c in classes]
    if schedule is not None:
        applies["schedule"] = [_window(w) for w in schedule]
    base = {"id": _rule_id(outcome), "description": _description(raw, index, count)}
    if rule_type == "speed":
        draft.rule = speed_rule(raw, states, outcome)
    elif rule_type == "time":
        draft.rule = time_rule(raw, states, outcome)
    elif rule_type == "count":
        draft.rule, draft.cap = count_rule(raw, classes, schedule, states, outcome)
    else:
        outcome.refuse(f"rule_type {rule_type!r} is not an MDS 1.2 or 2.0 rule type")
    if draft.rule is not None:
        draft.rule = {**base, **draft.rule, "applies": applies}
        if draft.rule["kind"] in OVERRIDING_KINDS:
            draft.rule["priority"] = count - index
            draft.rule["description"] += f"; priority {count - index} keeps MDS's first-match order"
        outcome.imported_as = f"{draft.rule['kind']} rule {base['id']}"
    return draft


def _geometry(
    ids: list[str], geographies: Mapping[str, MdsGeography], shapes: _Shapes, outcome: RuleOutcome
) -> Any:
    parts = []
    for geography_id in ids:
        shape, notes = shapes.of(geographies[geography_id])
        if shape is None:
            outcome.refuse(f"geography {geography_id}: {notes[0]}")
            return None
        for note in notes:
            outcome.approximate(f"geography {geography_id}: {note}")
        parts.append(shape)
    return shapely.union_all(parts)


def _rule_id(outcome: RuleOutcome) -> str:
    if ID_PATTERN.match(outcome.rule_id):
        return outcome.rule_id
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", outcome.rule_id).strip("-.") or f"rule-{outcome.position}"
    outcome.notes.append(f"rule_id {outcome.rule_id!r} is not a valid rule id here: written as {cleaned!r}")
    return cleaned


def _area_id(geography_id: str) -> str:
    return (
        geography_id
        if ID_PATTERN.match(geography_id)
        else re.sub(r"[^A-Za-z0-9_.-]+", "-", geography_id).strip("-.")
    )


def _description(raw: dict[str, Any], index: int, count: int) -> str:
    return f"{raw.get('name') or 'MDS rule'} (MDS rule {index + 1} of {count})"


def _window(window: TimeWindow) -> dict[str, Any]:
    end = "24:00" if window.ends_at_midnight else f"{window.end:%H:%M}"
    return {"days": [str(d) for d in window.days], "start": f"{window.start:%H:%M}", "end": end}


def _first_match(later: _Draft, earlier: Sequence[_Draft]) -> None:
    """Cut ``later``'s areas where an earlier rule takes all its vehicles; report partial overlaps."""
    assert later.rule is not None and later.scope is not None
    kind = later.rule["kind"]
    carved: list[_Draft] = []
    for previous in earlier:
        if previous.scope is None:
            if (
                previous.outcome.status == "not_imported"
                and previous.geometry is None
                and previous.geography_ids
            ):
                later.outcome.approximate(
                    f"rule {previous.outcome.position} comes first, but its geography is unknown, so where MDS would "
                    "let it take vehicles from this rule is unknown"
                )
            continue
        relation = overlap(previous.scope, later.scope)
        if relation == "none":
            continue
        if previous.rule is not None and previous.rule["kind"] == kind and kind in OVERRIDING_KINDS:
            continue  # the priorities say it: the earlier rule wins wherever both apply
        taken = capture(previous.raw)
        if taken == "none":
            continue
        if taken == "all" and relation == "full":
            carved.append(previous)
            continue
        why = (
            "only up to its maximum"
            if taken == "up_to_maximum"
            else "only some of its vehicles, times or states"
        )
        later.outcome.approximate(
            f"rule {previous.outcome.position} comes first and, in MDS, takes {why} where both apply; here both "
            "apply there on their own"
        )
    if not carved:
        if kind in OVERRIDING_KINDS:
            later.outcome.notes.append(
                f"first-match order: priority {later.rule['priority']} (earlier MDS rules get higher priorities)"
            )
        return
    remaining = later.scope.geometry.difference(
        shapely.union_all([d.scope.geometry for d in carved if d.scope])
    )
    names = ", ".join(f"rule {d.outcome.position}" for d in carved)
    if remaining.is_empty or remaining.area <= 0:
        later.outcome.refuse(
            f"{names} come(s) first and take(s) every vehicle this rule would apply to, everywhere"
        )
        later.rule = None
        return
    later.geometry = remaining
    later.rule["applies"]["areas"] = [f"{later.rule['id']}.in-force"]
    later.outcome.notes.append(
        f"first-match order: {names} come(s) first and take(s) all its vehicles in its geography, so this rule's "
        "area is its geography less theirs"
    )
    if kind in OVERRIDING_KINDS:
        later.outcome.notes.append(f"first-match order: priority {later.rule['priority']}")


def _boundary(
    drafts: Sequence[_Draft],
    geographies: Mapping[str, MdsGeography],
    shapes: _Shapes,
    options: ImportOptions,
    outcome: PolicyOutcome,
) -> Any:
    if options.boundary_geography:
        if options.boundary_geography not in geographies:
            outcome.notes.append(
                f"boundary geography {options.boundary_geography} is not in the geographies given"
            )
            return None
        boundary, notes = shapes.of(geographies[options.boundary_geography])
        if boundary is None:
            outcome.notes.append(f"boundary geography {options.boundary_geography}: {notes[0]}")
        else:
            outcome.notes.append(f"the zone boundary is geography {options.boundary_geography} (--boundary)")
        return boundary
    used = [
        d.scope.geometry for d in drafts if d.scope is not None and (d.rule is not None or d.cap is not None)
    ]
    if not used:
        return None
    outcome.notes.append("the zone boundary is the union of the geographies of the imported rules")
    return shapely.union_all(used)


def _operators(
    policy: MdsPolicy, drafts: Sequence[_Draft], options: ImportOptions, outcome: PolicyOutcome, boundary: Any
) -> list[dict[str, Any]]:
    providers = list(options.operators) or [str(p) for p in policy.raw.get("provider_ids") or []]
    if not providers:
        providers = [ANY_PROVIDER]
        outcome.notes.append(
            f"the policy names no providers (it applies to all): the config lists one operator {ANY_PROVIDER!r}; "
            "name real operators with --operator"
        )
    caps = []
    for draft in drafts:
        if draft.cap is None:
            continue
        if boundary is None or draft.scope is None or not draft.scope.geometry.buffer(1e-9).covers(boundary):
            draft.outcome.refuse(
                "a cap on part of the zone: fleet caps here hold for a whole zone (import that area as its own zone "
                "with --boundary)"
            )
            continue
        caps.append(draft)
    cap = min((d.cap for d in caps if d.cap is not None), default=None)
    for draft in caps:
        if draft.cap == cap:
            draft.outcome.imported_as = f"max_vehicles {cap} of each operator (MDS counts per provider)"
        else:
            draft.outcome.refuse(f"a smaller cap ({cap}) of another rule holds for the same zone")
    classes = sorted(
        {
            c
            for d in drafts
            if d.rule is not None
            for c in d.rule["applies"].get("vehicle_classes", list(VehicleClass))
        },
        key=list(VehicleClass).index,
    ) or list(VehicleClass)
    operators = []
    for provider in providers:
        operator: dict[str, Any] = {
            "id": provider,
            "name": f"MDS provider {provider}",
            "vehicle_classes": [str(c) for c in classes],
        }
        if cap is not None:
            operator["max_vehicles"] = cap
        operators.append(operator)
    return operators


def _areas(
    drafts: Sequence[_Draft], geographies: Mapping[str, MdsGeography], shapes: _Shapes
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    areas: dict[str, dict[str, Any]] = {}
    features = []
    for draft in drafts:
        if draft.rule is None:
            continue
        for area_id in draft.rule["applies"]["areas"]:
            if area_id in areas:
                continue
            if area_id.endswith(".in-force"):
                names = ", ".join(geographies[g].name for g in draft.geography_ids)
                kind = _kind(geographies[draft.geography_ids[0]])
                areas[area_id] = {
                    "id": area_id,
                    "name": f"{names} (where rule {draft.outcome.position} is in force)",
                    "kind": kind,
                }
                geometry = draft.geometry
            else:
                geography = next(geographies[g] for g in draft.geography_ids if _area_id(g) == area_id)
                areas[area_id] = {"id": area_id, "name": geography.name, "kind": _kind(geography)}
                geometry, _ = shapes.of(geography)
            features.append(
                {"type": "Feature", "properties": {"area": area_id}, "geometry": geojson(geometry)}
            )
    return list(areas.values()), features


def _kind(geography: MdsGeography) -> str:
    return str(_AREA_KINDS.get(geography.geography_type or "", AreaKind.OTHER))


__all__ = ["ANY_PROVIDER", "ImportOptions", "ImportedZone", "import_policy", "slug"]
