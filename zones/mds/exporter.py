"""Zone configs -> MDS 2.0 Policy and Geography documents, so a city can publish its rules.

MDS evaluates rules first-match; zones use explicit precedence. The export writes rules in
an order whose first match is the zone's winner: ``count`` rules with ``maximum: 0``
(restricted areas) first, since they take no vehicles from later rules; then speed limits
(states ``on_trip``, ``reserved``) and dwell limits (``available``, ``non_operational``),
whose states do not overlap, each sorted by the zone's precedence key (priority, area
before zone-wide, smaller area first, id). A rule with several areas or time windows becomes
one MDS rule per area and window, so each has one size to sort by. Kinds MDS cannot say
(telemetry gaps, driving modes, events, permits, operating hours, leaving the boundary) are
reported as not exported, with the reason.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from pilotzone.zones.kinds.dwell import DwellRule
from pilotzone.zones.kinds.restricted_area import RestrictedAreaRule
from pilotzone.zones.kinds.speed_limit import SpeedLimitRule
from pilotzone.zones.mds.report import ExportedRule, ZoneExport
from pilotzone.zones.mds.shapes import feature_collection
from pilotzone.zones.mds.units import (
    DEFAULT_VEHICLE_CLASSES,
    ScheduleError,
    largest_whole_unit,
    schedule_to,
    vehicle_classes,
    vehicle_types_of,
    whole_speed_in,
)
from pilotzone.zones.model import AreaKind, Rule, TimeWindow
from pilotzone.zones.zone import Zone

MDS_VERSION = "2.0.0"
UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NAMESPACE = uuid.UUID("6f1c4b1e-8d43-5f8e-9a59-7a1d0c3e2b10")
"""Namespace of the UUIDs made for zone, rule and area ids that are not UUIDs themselves."""

MOVING: dict[str, list[str]] = {"on_trip": [], "reserved": []}
STATIONARY: dict[str, list[str]] = {"available": [], "non_operational": []}
EVERY_STATE: dict[str, list[str]] = {"available": [], "non_operational": [], "on_trip": [], "reserved": []}

_GEOGRAPHY_TYPES = {
    AreaKind.PICKUP_DROPOFF: "stop",
    AreaKind.RESTRICTED_AREA: "no_ride_zone",
    AreaKind.DISTRICT: "council_district",
    AreaKind.CORRIDOR: "right_of_way",
}
_NOT_EXPORTED = {
    "leave_boundary": "MDS has no rule for leaving an area (its rules apply inside their geographies)",
    "operating_hours": "MDS has no operating-hours rule",
    "telemetry_gap": "MDS policies do not limit gaps in telemetry",
    "driving_mode": "MDS has no driving modes",
    "permit": "MDS policies do not grant permits",
    "vehicle_event": "MDS policies do not ask for event reports",
}


def mds_uuid(*parts: str) -> str:
    """``parts[-1]`` if it is a UUID already, else a stable UUID made from all parts."""
    if UUID_PATTERN.match(parts[-1]):
        return parts[-1]
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def export_zone(zone: Zone, published_ms: int) -> tuple[dict[str, Any], dict[str, Any], ZoneExport]:
    """A zone as an MDS 2.0 Policy document, its Geographies document and the export report."""
    source = zone.config.source or {}
    policy_id = str(source.get("policy_id") or "")
    if not UUID_PATTERN.match(policy_id):
        policy_id = mds_uuid("zone", zone.zone_id)
    report = ZoneExport(zone.zone_id, policy_id)
    report.notes.append("MDS rules have no severity: severities stay in the zone config")
    geographies: dict[str, dict[str, Any]] = {}
    entries: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for rule in zone.rules:
        exported = ExportedRule(rule.id, rule.kind)
        report.rules.append(exported)
        if rule.kind in _NOT_EXPORTED:
            exported.status = "not_exported"
            exported.notes.append(_NOT_EXPORTED[rule.kind])
            continue
        entries.extend(_mds_rules(zone, rule, exported, geographies, published_ms))
    for operator in zone.config.operators:
        if operator.max_vehicles is not None:
            report.notes.append(
                f"operator {operator.id}'s cap of {operator.max_vehicles} is not exported: an MDS cap is a policy "
                "for listed providers, who are named by UUID"
            )
    if zone.config.max_vehicles is not None:
        report.notes.append("the zone-wide cap is not exported: MDS caps count per provider")
    entries.sort(key=lambda entry: entry[0])
    rules = [rule for _, rule in entries]
    given_start = source.get("start_date")
    start: int = given_start if isinstance(given_start, int) else published_ms
    policy: dict[str, Any] = {
        "name": zone.config.name[:255],
        "policy_id": policy_id,
        "description": f"Rules of pilot zone {zone.zone_id} ({zone.version})"[:255],
        "start_date": max(start, 1514764800000),
        "end_date": source.get("end_date") if isinstance(source.get("end_date"), int) else None,
        "published_date": published_ms,
        "prev_policies": source.get("prev_policies") or None,
        "rules": rules,
    }
    if source.get("provider_ids"):
        policy["provider_ids"] = source["provider_ids"]
    policy_document = {"version": MDS_VERSION, "updated": published_ms, "data": {"policies": [policy]}}
    geography_document = {
        "version": MDS_VERSION,
        "updated": published_ms,
        "data": {"geographies": sorted(geographies.values(), key=lambda g: g["geography_id"])},
    }
    if not rules:
        report.notes.append("no rule of the zone can be said in MDS: the policy would be empty")
    return policy_document, geography_document, report


def _geography(
    zone: Zone, area_id: str | None, geographies: dict[str, dict[str, Any]], published_ms: int
) -> tuple[str, float]:
    """The geography id of an area (None: the boundary), added once; and the area's size."""
    if area_id is None:
        geography_id = mds_uuid("boundary", zone.zone_id)
        geometry, name, kind, size = (
            zone.boundary,
            f"{zone.config.name} boundary",
            "municipal_boundary",
            float("inf"),
        )
    else:
        area = zone.areas[area_id]
        geography_id = mds_uuid("area", zone.zone_id, area_id)
        geometry, name, kind, size = (
            area.geometry,
            area.name,
            _GEOGRAPHY_TYPES.get(area.kind, "policy_zone"),
            area.area_m2,
        )
    geographies.setdefault(
        geography_id,
        {
            "name": name[:255],
            "geography_id": geography_id,
            "geography_type": kind,
            "geography_json": feature_collection(geometry, {"pilotzone_area": area_id or "boundary"}),
            "published_date": published_ms,
        },
    )
    return geography_id, size


def _mds_rules(
    zone: Zone, rule: Rule, exported: ExportedRule, geographies: dict[str, dict[str, Any]], published_ms: int
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    body = _body(rule, exported)
    if body is None:
        return []
    order, fields = body
    types = vehicle_types_of(rule.applies.vehicle_classes)
    if rule.applies.vehicle_classes is not None:
        back, _ = vehicle_classes(types, DEFAULT_VEHICLE_CLASSES)
        if back is None or set(back) != set(rule.applies.vehicle_classes):
            exported.status = "approximated"
            exported.notes.append(
                f"vehicle types {', '.join(types or [])} also cover classes the rule does not name "
                f"({', '.join(sorted(str(c) for c in set(back or []) - set(rule.applies.vehicle_classes)))})"
            )
    windows: list[list[TimeWindow] | None] = (
        [None] if rule.applies.schedule is None else [[w] for w in rule.applies.schedule]
    )
    areas: list[str | None] = [*rule.applies.areas] if rule.applies.areas else [None]
    pieces = [(a, w) for a in areas for w in range(len(windows))]
    out = []
    for area_id, window_index in pieces:
        geography_id, size = _geography(zone, area_id, geographies, published_ms)
        try:
            timing = schedule_to(windows[window_index])
        except ScheduleError as exc:  # one window each: cannot happen, but say so if it does
            exported.status, exported.notes = "not_exported", [*exported.notes, str(exc)]
            return []
        single = len(pieces) == 1
        rule_id = (
            mds_uuid("rule", zone.zone_id, rule.id)
            if single
            else mds_uuid("rule", zone.zone_id, rule.id, str(area_id), str(window_index))
        )
        mds: dict[str, Any] = {
            "name": f"{rule.id}: {rule.description}"[:255] if rule.description else rule.id[:255],
            "rule_id": rule_id,
            "geographies": [geography_id],
            **fields,
            **(timing or {}),
        }
        if types is not None:
            mds["vehicle_types"] = types
        exported.mds_rule_ids.append(rule_id)
        key = (order, -(rule.priority or 0), 1 if area_id is None else 0, size, rule.id, window_index)
        out.append((key, mds))
    return out


def _body(rule: Rule, exported: ExportedRule) -> tuple[int, dict[str, Any]] | None:
    """The kind's MDS fields and its place in the order (restricted, speed, dwell)."""
    if isinstance(rule, RestrictedAreaRule):
        if rule.grace_s:
            exported.status = "approximated"
            exported.notes.append(f"MDS has no grace period: the {rule.grace_s:g} s grace is not published")
        return 0, {"rule_type": "count", "rule_units": "devices", "states": EVERY_STATE, "maximum": 0}
    if isinstance(rule, SpeedLimitRule):
        limit = rule.limit_kmh + rule.tolerance_kmh
        if rule.tolerance_kmh:
            exported.status = "approximated"
            exported.notes.append(
                f"published as the limit plus its tolerance ({limit:g} km/h): MDS has no tolerance"
            )
        for units in ("kph", "mph"):
            whole = whole_speed_in(limit, units)
            if whole is not None:
                break
        else:
            exported.status = "not_exported"
            exported.notes.append(
                f"{limit!r} km/h is no whole number of kph or mph, and an MDS maximum is an integer"
            )
            return None
        if rule.grace_s:
            exported.status = "approximated"
            exported.notes.append(f"MDS has no grace period: the {rule.grace_s:g} s grace is not published")
        return 1, {"rule_type": "speed", "rule_units": units, "states": MOVING, "maximum": whole}
    if isinstance(rule, DwellRule):
        duration = largest_whole_unit(rule.max_dwell_s)
        if duration is None:
            exported.status = "not_exported"
            exported.notes.append(
                f"{rule.max_dwell_s!r} s is no whole number of seconds, and an MDS maximum is an integer"
            )
            return None
        if rule.stopped_below_kmh != 1.0:
            exported.status = "approximated"
            exported.notes.append(
                f"MDS cannot say what counts as stopped (here below {rule.stopped_below_kmh:g} km/h)"
            )
        return 2, {
            "rule_type": "time",
            "rule_units": duration[1],
            "states": STATIONARY,
            "maximum": duration[0],
        }
    exported.status = "not_exported"
    exported.notes.append(f"no MDS rule type for {rule.kind}")
    return None


__all__ = ["MDS_VERSION", "NAMESPACE", "export_zone", "mds_uuid"]
