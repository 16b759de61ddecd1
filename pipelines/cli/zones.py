"""``pilotzone zones``: check zone configs and explain which rules apply at a point.

``check`` is what a zone operator runs before publishing a config and what CI runs on every
change: it loads the files with the same loader the pipeline uses, prints what each zone
contains (so a reviewer sees the rules as the monitor reads them, not as the YAML looks)
and every problem of every file at once. ``explain`` answers a vehicle maker's question
"which limit applies at this corner at 08:15, and why?".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from pilotzone.pipelines.cli import fence_explain, mds
from pilotzone.zones import ConfigProblem, Zone, ZoneConfigError, geodesic_area_m2, load_zones
from pilotzone.zones.fences.explain import fences_at_point
from pilotzone.zones.history import history_of, is_dated, time_ms
from pilotzone.zones.model import RULE_KINDS, Rule, VehicleClass
from pilotzone.zones.rules import AppliedRule, rule_parameters, rules_at

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Register ``zones check`` and ``zones explain`` on the top-level sub-command parsers."""
    zones = subparsers.add_parser(
        "zones",
        help="check zone configs, explain which rules apply at a point",
        description="Work with pilot-zone configs (YAML).",
    )
    actions = zones.add_subparsers(dest="zones_command", required=True, metavar="ACTION")
    mds.add_actions(actions)

    check = actions.add_parser(
        "check",
        help="load zone configs and report what they contain, or every problem in them",
        description="Load zone config files and folders; exit 0 if all are valid, 1 with every problem listed.",
    )
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="zone config YAML file or folder")
    check.add_argument("--json", action="store_true", help="print a machine-readable report")
    _add_repair_flag(check)
    check.set_defaults(func=check_command)

    explain = actions.add_parser(
        "explain",
        help="list the rules in force at a point and time, and why each one wins",
        description="Which rule of each kind applies to a vehicle at a point and time, with the precedence reasoning.",
    )
    explain.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="zone config YAML file or folder"
    )
    explain.add_argument("--lat", type=float, required=True, help="latitude, WGS 84 degrees")
    explain.add_argument("--lon", type=float, required=True, help="longitude, WGS 84 degrees")
    explain.add_argument(
        "--time",
        type=_parse_time,
        required=True,
        metavar="ISO8601",
        help="instant, e.g. 2025-03-04T08:15:00+09:00 (without an offset: the zone's local time)",
    )
    explain.add_argument(
        "--vehicle-class",
        type=_parse_vehicle_class,
        required=True,
        metavar="CLASS",
        help=f"one of {', '.join(VehicleClass)}",
    )
    explain.add_argument(
        "--at",
        type=_parse_time,
        metavar="ISO8601",
        help="the moment whose config versions to explain, when the paths hold a config history "
        "(default: --time)",
    )
    explain.add_argument("--zone", metavar="ZONE_ID", help="which zone, when the paths hold several")
    fence_explain.add_fence_argument(explain)
    explain.add_argument("--json", action="store_true", help="print a machine-readable report")
    _add_repair_flag(explain)
    explain.set_defaults(func=explain_command)


def check_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``zones check``: 0 if every config loads, 1 with all problems reported."""
    out = out or sys.stdout
    try:
        zones = load_zones(args.paths, repair_geometry=args.repair_geometry, geometry_root=args.geometry_root)
    except ZoneConfigError as exc:
        if args.json:
            _print_json({"ok": False, "zones": [], "problems": [_problem_json(p) for p in exc.problems]}, out)
        else:
            _print_problems(exc.problems, out)
        return EXIT_PROBLEMS
    if args.json:
        _print_json({"ok": True, "zones": [zone_summary(zone) for zone in zones], "problems": []}, out)
    else:
        for zone in zones:
            _print_zone(zone, out)
        print(f"OK: {len(zones)} zone{'s' if len(zones) != 1 else ''} valid", file=out)
    return EXIT_OK


def explain_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``zones explain``: the rules in force at a point; 1 if the configs are bad or no zone fits."""
    out = out or sys.stdout
    try:
        zones = load_zones(args.paths, repair_geometry=args.repair_geometry, geometry_root=args.geometry_root)
    except ZoneConfigError as exc:
        _print_problems(exc.problems, out)
        return EXIT_PROBLEMS
    fences = fence_explain.load_explain_fences(args.fences, args.geometry_root) if args.fences else []
    if isinstance(fences, int):
        return fences
    in_force = _versions_at(zones, args.at if args.at is not None else args.time, args.zone)
    if isinstance(in_force, str):
        print(f"error: {in_force}", file=out)
        return EXIT_PROBLEMS
    zone = _choose_zone(in_force, args.zone, args.lon, args.lat)
    if isinstance(zone, str):
        print(f"error: {zone}", file=out)
        return EXIT_PROBLEMS
    when: dt.datetime = (
        args.time if args.time.tzinfo is not None else args.time.replace(tzinfo=zone.config.tz)
    )
    applied = rules_at(zone, args.lon, args.lat, when, args.vehicle_class)
    local = when.astimezone(zone.config.tz)
    at = args.at if args.at is not None else args.time
    at = (at if at.tzinfo is not None else at.replace(tzinfo=zone.config.tz)).astimezone(zone.config.tz)
    covering = fences_at_point(fences, args.lon, args.lat, time_ms(at), args.vehicle_class)
    if args.json:
        _print_json(
            {
                "zone_id": zone.zone_id,
                "version": zone.version,
                "lon": args.lon,
                "lat": args.lat,
                "local_time": local.isoformat(),
                "vehicle_class": str(args.vehicle_class),
                "rules": [_applied_json(a) for a in applied],
                **_validity_json(zone),
                **({"fences": fence_explain.fences_json(covering, zone.config.tz)} if args.fences else {}),
            },
            out,
        )
        return EXIT_OK
    print(
        f"{zone.zone_id} ({zone.version}) at lon {args.lon:.6f}, lat {args.lat:.6f}, "
        f"{local:%a %Y-%m-%d %H:%M:%S %Z}, {args.vehicle_class}:",
        file=out,
    )
    if is_dated(zone):
        print(f"  version {_validity_text(zone)}", file=out)
    if not applied:
        print("  no rule applies", file=out)
    for item in applied:
        print(f"  [{item.rule.severity}] {item.explanation}", file=out)
    if args.fences:
        fence_explain.print_fences(covering, at, str(args.vehicle_class), out)
    return EXIT_OK


def zone_summary(zone: Zone) -> dict[str, Any]:
    """What a zone contains, as plain data (the ``--json`` report and the text listing)."""
    config = zone.config
    return {
        "zone_id": zone.zone_id,
        "name": config.name,
        "timezone": config.timezone,
        "authority": config.authority,
        "version": zone.version,
        "source": str(zone.source),
        "boundary_km2": round(geodesic_area_m2(zone.boundary) / 1e6, 3),
        "max_vehicles": config.max_vehicles,
        "areas": [
            {"id": area.id, "name": area.name, "kind": str(area.kind), "area_m2": round(area.area_m2, 1)}
            for area in zone.areas.values()
        ],
        "areas_by_kind": dict(sorted(Counter(str(area.kind) for area in zone.areas.values()).items())),
        "operators": [
            {
                "id": op.id,
                "name": op.name,
                "vehicle_classes": [str(c) for c in op.vehicle_classes],
                "max_vehicles": op.max_vehicles,
            }
            for op in config.operators
        ],
        "rules": [_rule_json(rule) for rule in config.rules],
        "rules_by_kind": {kind: n for kind in RULE_KINDS if (n := len(zone.rules_of_kind(kind)))},
        "repaired": list(zone.repaired),
        "warnings": list(zone.warnings),
        **_validity_json(zone),
    }


def _add_repair_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repair-geometry",
        action="store_true",
        help="repair invalid polygons with shapely.make_valid instead of refusing them (review the result)",
    )
    parser.add_argument(
        "--geometry-root",
        type=Path,
        metavar="DIR",
        help="folder that file: geometry must lie under (default: the folder holding each config's folder)",
    )


def _parse_time(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date-time: {text!r} (e.g. 2025-03-04T08:15:00+09:00)"
        ) from None


def _parse_vehicle_class(text: str) -> VehicleClass:
    try:
        return VehicleClass(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown vehicle class {text!r}: use one of {', '.join(VehicleClass)}"
        ) from None


def _versions_at(zones: list[Zone], at: dt.datetime, zone_id: str | None) -> list[Zone] | str:
    """The zone versions in force at ``at`` (``zones.history``), or why there are none.

    A time without an offset is read in the timezone of the zone asked for (else the first).
    """
    if at.tzinfo is None:
        asked = [zone for zone in zones if zone.zone_id == zone_id] or zones
        at = at.replace(tzinfo=asked[0].config.tz)
    in_force = list(history_of(zones).zones_at(time_ms(at)))
    if not in_force:
        return f"no zone config is in force at {at.isoformat()}: check --at (or --time) against the versions' dates"
    return in_force


def _validity_json(zone: Zone) -> dict[str, Any]:
    """When an explained version is in force (nothing for an undated config, in force always)."""
    if not is_dated(zone):
        return {}
    config = zone.config
    return {
        "effective_from": None if config.effective_from is None else config.effective_from.isoformat(),
        "until": None if config.until is None else config.until.isoformat(),
    }


def _validity_text(zone: Zone) -> str:
    config = zone.config
    since = "always" if config.effective_from is None else f"from {config.effective_from.isoformat()}"
    until = "on" if config.until is None else f"until {config.until.isoformat()}"
    return f"in force {since} {until}"


def _choose_zone(zones: list[Zone], zone_id: str | None, lon: float, lat: float) -> Zone | str:
    """The zone to explain, or why none can be chosen."""
    if zone_id is not None:
        for zone in zones:
            if zone.zone_id == zone_id:
                return zone
        return f"no zone {zone_id!r} in the configs given (zones: {', '.join(z.zone_id for z in zones)})"
    if len(zones) == 1:
        return zones[0]
    from pilotzone.zones import area_index

    containing = [z for z in zones if area_index(z).inside_boundary([lon], [lat])[0]]
    if len(containing) == 1:
        return containing[0]
    candidates = containing or zones
    return f"the point is in {len(containing)} of the zones: pick one with --zone ({', '.join(z.zone_id for z in candidates)})"


def _rule_json(rule: Rule) -> dict[str, Any]:
    applies = rule.applies
    return {
        "id": rule.id,
        "kind": rule.kind,
        "severity": str(rule.severity),
        "summary": rule_parameters(rule),
        "priority": rule.priority,
        "areas": applies.areas,
        "vehicle_classes": [str(c) for c in applies.vehicle_classes]
        if applies.vehicle_classes is not None
        else None,
        "scheduled": applies.schedule is not None,
    }


def _applied_json(applied: AppliedRule) -> dict[str, Any]:
    return {
        "kind": applied.kind,
        "rule_id": applied.rule.id,
        "severity": str(applied.rule.severity),
        "area": applied.area,
        "overridden": list(applied.overridden),
        "explanation": applied.explanation,
    }


def _problem_json(problem: ConfigProblem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "location": problem.location,
        "message": problem.message,
        "line": problem.line,
    }


def _print_json(data: dict[str, Any], out: TextIO) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False), file=out)


def _print_problems(problems: list[ConfigProblem], out: TextIO) -> None:
    for problem in problems:
        print(problem, file=out)
    files = len({p.file for p in problems})
    print(
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {files} file{'s' if files != 1 else ''}",
        file=out,
    )


def _print_zone(zone: Zone, out: TextIO) -> None:
    summary = zone_summary(zone)
    cap = f", max {summary['max_vehicles']} vehicles" if summary["max_vehicles"] else ""
    print(f"{summary['zone_id']}: {summary['name']} ({summary['source']})", file=out)
    print(f"  version   {summary['version']}", file=out)
    if is_dated(zone):
        print(f"  validity  {_validity_text(zone)}", file=out)
    print(f"  timezone  {summary['timezone']}", file=out)
    print(f"  boundary  {summary['boundary_km2']:.1f} km²{cap}", file=out)
    by_kind = ", ".join(f"{n} {kind}" for kind, n in summary["areas_by_kind"].items()) or "none"
    print(f"  areas     {len(zone.areas)}: {by_kind}", file=out)
    for op in zone.config.operators:
        op_cap = f", max {op.max_vehicles}" if op.max_vehicles else ""
        print(f"  operator  {op.id}: {', '.join(op.vehicle_classes)}{op_cap}", file=out)
    print(f"  rules     {len(zone.rules)}", file=out)
    for kind in RULE_KINDS:
        for rule in zone.rules_of_kind(kind):
            scope = f" in {', '.join(rule.applies.areas)}" if rule.applies.areas else " zone-wide"
            classes = (
                f" for {', '.join(rule.applies.vehicle_classes)}" if rule.applies.vehicle_classes else ""
            )
            when = " (scheduled)" if rule.applies.schedule is not None else ""
            priority = f" priority {rule.priority}" if rule.priority is not None else ""
            print(
                f"    {kind:<16} {rule.id}: {rule_parameters(rule)}{scope}{classes}{when}{priority} [{rule.severity}]",
                file=out,
            )
    for note in zone.repaired:
        print(f"  repaired  {note}", file=out)
    for warning in zone.warnings:
        print(f"  warning   {warning}", file=out)
