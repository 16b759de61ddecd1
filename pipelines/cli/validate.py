"""``pilotzone validate``: a vehicle maker checks telemetry against the contract before connecting."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pilotzone.schemas.decode import TelemetryDecoder
from pilotzone.schemas.registry import SchemaStore
from pilotzone.schemas.validate import validate_files


def add_parser(subparsers: Any) -> None:
    """Register ``validate`` and its options."""
    parser = subparsers.add_parser(
        "validate",
        help="check telemetry files and framed messages against the Avro contract",
        description=(
            "Check Avro container files, Confluent-framed messages (0x00 + schema id) and single-object "
            "encoded messages (C3 01 + fingerprint) against the telemetry contract: schema resolution, value "
            "ranges, NaN, timestamps going backwards, duplicate or missing sequence numbers and implausible "
            "jumps. Exit status 0 when clean, 1 when anything was found."
        ),
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="files or folders (searched for .avro/.bin/.msg)"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON report")
    parser.add_argument(
        "--schema",
        action="append",
        default=[],
        metavar="FILE.avsc",
        help="an extra writer schema for single-object-encoded messages (repeatable)",
    )
    parser.add_argument(
        "--schema-id",
        action="append",
        default=[],
        metavar="ID=FILE.avsc",
        help="the writer schema your registry assigned ID, for Confluent-framed messages (repeatable)",
    )
    parser.add_argument(
        "--max-issues",
        type=int,
        default=1000,
        metavar="N",
        help="findings listed in the JSON report (default 1000)",
    )
    parser.set_defaults(func=run_validate)


def _store(args: argparse.Namespace) -> SchemaStore:
    store = SchemaStore.reference()
    for path in args.schema:
        store.add_file(path)
    for spec in args.schema_id:
        schema_id, sep, path = spec.partition("=")
        if not sep or not schema_id.isdigit():
            raise ValueError(f"--schema-id {spec!r}: write it as ID=FILE.avsc, for example 42=telemetry.avsc")
        store.add_file(path, schema_id=int(schema_id))
    return store


def run_validate(args: argparse.Namespace) -> int:
    """Validate and print the report; 0 when clean, 1 with findings, 2 for unusable options."""
    try:
        store = _store(args)
    except ValueError as exc:
        print(f"pilotzone validate: {exc}", file=sys.stderr)
        return 2
    missing = [path for path in args.files if not Path(path).exists()]
    if missing:
        for path in missing:
            print(f"pilotzone validate: {path}: no such file or folder", file=sys.stderr)
        return 2
    report = validate_files(args.files, TelemetryDecoder(store))
    if args.json:
        print(json.dumps(report.to_json(max_issues=args.max_issues), indent=2))
    else:
        print(report.to_text())
    return 0 if report.ok else 1
