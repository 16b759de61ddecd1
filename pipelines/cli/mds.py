"""``pilotzone zones import-mds`` and ``export-mds``: MDS Policy and Geography documents in and out.

Exit codes: 0 done (every policy imported, perhaps with approximations the report lists),
1 some policy was refused (the report says why, rule by rule), 2 unusable arguments or a
document that breaks its MDS schema (strict mode; ``--lenient`` reads it and lists what it
forgave).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from pilotzone.zones import ZoneConfigError, load_zones
from pilotzone.zones.mds.documents import MdsDocumentError
from pilotzone.zones.mds.files import export_files, import_files
from pilotzone.zones.mds.importer import ImportOptions
from pilotzone.zones.mds.units import DEFAULT_VEHICLE_CLASSES
from pilotzone.zones.model import VehicleClass

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


def add_actions(actions: Any) -> None:
    """Register ``import-mds`` and ``export-mds`` under ``pilotzone zones``."""
    importer = actions.add_parser(
        "import-mds",
        help="turn MDS policies and geographies into zone configs, reporting every rule's outcome",
        description="Convert MDS 1.2/2.0 Policy + Geography JSON into zone configs the monitor loads.",
    )
    importer.add_argument("policy", type=Path, metavar="POLICY.json")
    importer.add_argument("geographies", type=Path, nargs="+", metavar="GEOGRAPHIES.json")
    importer.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder for the zone configs"
    )
    importer.add_argument(
        "--timezone",
        required=True,
        help="IANA timezone the policy's days and times are in (America/Los_Angeles)",
    )
    importer.add_argument("--zone-id", help="zone id for a document with one policy (default: from its name)")
    importer.add_argument(
        "--map-vehicle-type",
        action="append",
        default=[],
        metavar="TYPE=CLASS[,CLASS]",
        help="read an MDS vehicle type as these classes (e.g. scooter=DELIVERY_ROBOT); repeatable",
    )
    importer.add_argument(
        "--operator", action="append", default=[], help="operator id the policy applies to; repeatable"
    )
    importer.add_argument("--boundary", metavar="GEOGRAPHY_ID", help="geography to use as the zone boundary")
    importer.add_argument(
        "--lenient",
        action="store_true",
        help="read documents that break their schema; list what was forgiven",
    )
    importer.add_argument("--json", action="store_true", help="print the machine-readable report")
    importer.set_defaults(func=import_command)

    exporter = actions.add_parser(
        "export-mds",
        help="publish zone configs as MDS 2.0 Policy and Geography JSON",
        description="Write <zone>.policy.json and <zone>.geographies.json per zone, checked against the MDS schema.",
    )
    exporter.add_argument(
        "paths", type=Path, nargs="+", metavar="CONFIG", help="zone config YAML file or folder"
    )
    exporter.add_argument("--out", type=Path, required=True, metavar="DIR")
    exporter.add_argument(
        "--published-ms", type=int, help="published_date/updated in ms since the epoch (default: now)"
    )
    exporter.add_argument("--json", action="store_true", help="print the machine-readable report")
    exporter.set_defaults(func=export_command)


def _vehicle_map(pairs: list[str]) -> dict[str, tuple[VehicleClass, ...]]:
    mapping = dict(DEFAULT_VEHICLE_CLASSES)
    for pair in pairs:
        vehicle_type, _, classes = pair.partition("=")
        try:
            mapping[vehicle_type.strip()] = tuple(
                VehicleClass(c.strip().upper()) for c in classes.split(",") if c.strip()
            )
        except ValueError:
            raise ValueError(
                f"--map-vehicle-type {pair!r}: expected TYPE=CLASS[,CLASS] with classes from {', '.join(VehicleClass)}"
            ) from None
        if not vehicle_type.strip() or not mapping[vehicle_type.strip()]:
            raise ValueError(f"--map-vehicle-type {pair!r}: expected TYPE=CLASS[,CLASS]")
    return mapping


def import_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``zones import-mds``."""
    out = out or sys.stdout
    try:
        options = ImportOptions(
            timezone=args.timezone,
            zone_id=args.zone_id,
            vehicle_classes=_vehicle_map(args.map_vehicle_type),
            operators=tuple(args.operator),
            boundary_geography=args.boundary,
        )
        _check_timezone(args.timezone)
        report = import_files(args.policy, args.geographies, args.out, options, lenient=args.lenient)
    except MdsDocumentError as exc:
        if args.json:
            print(
                json.dumps(
                    {"error": "invalid MDS document", "source": exc.source, "problems": exc.problems},
                    indent=2,
                ),
                file=out,
            )
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False), file=out)
    else:
        print(report.text(), file=out)
    return EXIT_REFUSED if any(p.status == "refused" for p in report.policies) else EXIT_OK


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--timezone {name!r} is not an IANA timezone (e.g. America/Los_Angeles)") from None


def export_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``zones export-mds``."""
    out = out or sys.stdout
    try:
        zones = load_zones(args.paths)
    except ZoneConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    published = args.published_ms if args.published_ms is not None else int(time.time() * 1000)
    try:
        reports = export_files(zones, args.out, published)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=2, ensure_ascii=False), file=out)
    else:
        print("\n".join(r.text() for r in reports), file=out)
    return EXIT_OK


__all__ = ["add_actions", "export_command", "import_command"]
