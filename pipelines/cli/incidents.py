"""``pilotzone incidents list|show|file|metrics``: the incident register at an operator's desk.

Every sub-command takes ``--register URL`` (``PILOTZONE_REGISTER``); ``list`` and ``show`` say
what each incident owes the zone authority as of ``--now`` (default: the clock), ``file``
records a filed report, ``metrics`` writes, pushes or serves the register's report counts.
``--json`` gives machine-readable output. Exit status: 0 done, 1 an incident not found
(``show``), 2 unusable arguments or register. ``run`` and ``stream`` use
``add_register_argument`` and ``register_problem`` for their own ``--register``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pilotzone.pipelines.register.obligations import REPORT_STATUSES, Obligation, obligations
from pilotzone.pipelines.register.store import Filing, Register, RegisterError

REGISTER_ENV = "PILOTZONE_REGISTER"


def parse_time_ms(text: str) -> int:
    """Unix ms of an ISO 8601 / RFC 3339 time; a time without offset is UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time like 2026-11-24T09:00:00Z") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return round(moment.timestamp() * 1000)


def add_register_argument(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """``--register URL``: where incidents are upserted (``sqlite:///FILE`` or ``postgresql://...``)."""
    default = os.environ.get(REGISTER_ENV)
    parser.add_argument(
        "--register",
        default=default,
        required=required and default is None,
        metavar="URL",
        help="incident register: sqlite:///FILE (relative path), sqlite:////FILE (absolute), a plain file "
        f"path, or postgresql://USER@HOST/DB [{REGISTER_ENV}]",
    )


def register_problem(url: str | None) -> str | None:
    """Open (and migrate) the register before a pipeline starts; the problem, or None."""
    if url is None:
        return None
    try:
        with Register.open(url):
            return None
    except RegisterError as exc:
        return f"--register: {exc}"


def add_parser(subparsers: Any) -> None:
    """Register ``incidents`` and its sub-commands."""
    incidents = subparsers.add_parser(
        "incidents",
        help="the incident register: list, show, file reports, export report metrics",
        description="Read the incident register that `pilotzone run/stream --register` write, see which "
        "regulator reports are due, overdue, filed or not required, and record filed reports.",
    )
    commands = incidents.add_subparsers(dest="incidents_command", required=True, metavar="ACTION")

    listing = commands.add_parser("list", help="incidents with their report status")
    _common(listing)
    listing.add_argument("--zone", metavar="ID", help="only this pilot zone")
    listing.add_argument("--operator", metavar="ID", help="only this operator")
    listing.add_argument("--severity", metavar="S", help="only this severity (MINOR, MAJOR, CRITICAL)")
    listing.add_argument(
        "--status", choices=REPORT_STATUSES, action="append", help="only these report statuses (repeatable)"
    )
    listing.set_defaults(func=list_command)

    show = commands.add_parser("show", help="one incident, its explanation, deadline and filing")
    _common(show)
    show.add_argument("incident_id", metavar="INCIDENT_ID")
    show.set_defaults(func=show_command)

    filing = commands.add_parser("file", help="record that the report on an incident was filed")
    add_register_argument(filing, required=True)
    filing.add_argument("incident_id", metavar="INCIDENT_ID")
    filing.add_argument("--reference", required=True, help="the authority's reference for the report")
    filing.add_argument("--by", required=True, metavar="WHO", help="who filed it")
    filing.add_argument(
        "--at", type=parse_time_ms, metavar="TIME", help="when it was filed (default: now), RFC 3339"
    )
    filing.add_argument("--json", action="store_true", help="print the incident as JSON")
    filing.set_defaults(func=file_command)

    metrics = commands.add_parser(
        "metrics",
        help="report counts per zone, operator and severity for Prometheus",
        description="Write the register's report metrics (pilotzone_reports_outstanding, _overdue, _filed) as "
        "OpenMetrics text to stdout or --metrics-file, push them to a Pushgateway, or serve them on "
        "--metrics-port, computed afresh at every scrape.",
    )
    _common(metrics, json_flag=False)
    metrics.add_argument("--metrics-file", type=Path, metavar="FILE", help="write OpenMetrics text here")
    metrics.add_argument("--pushgateway", metavar="URL", help='push as job="pilotzone", pipeline="register"')
    metrics.add_argument("--metrics-port", type=int, metavar="PORT", help="serve /metrics until stopped")
    metrics.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDR", help="(127.0.0.1)")
    metrics.add_argument("--serve-for", type=float, metavar="SECONDS", help="stop serving after this long")
    metrics.set_defaults(func=metrics_command)


def _common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    add_register_argument(parser, required=True)
    parser.add_argument(
        "--now",
        type=parse_time_ms,
        metavar="TIME",
        help="judge deadlines as of this moment (default: the clock), RFC 3339",
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def _now_ms(args: argparse.Namespace) -> int:
    return int(args.now) if args.now is not None else round(time.time() * 1000)


def _fail(args: argparse.Namespace, message: str, status: int = 2) -> int:
    print(f"pilotzone incidents {args.incidents_command}: {message}", file=sys.stderr)
    return status


def list_command(args: argparse.Namespace) -> int:
    """``incidents list``."""
    try:
        with Register.open(args.register) as register:
            entries = register.entries(pilot_zone=args.zone, operator=args.operator)
    except RegisterError as exc:
        return _fail(args, str(exc))
    chosen = [
        item
        for item in obligations(entries, _now_ms(args))
        if (args.severity is None or item.entry.record.severity == args.severity.upper())
        and (not args.status or item.status in args.status)
    ]
    if args.json:
        print(json.dumps([item.to_json() for item in chosen], ensure_ascii=False, indent=1))
        return 0
    print(
        f"{'incident':<20}  {'zone':<14} {'operator':<22} {'rule':<26} {'severity':<8} {'start (UTC)':<20} report"
    )
    for item in chosen:
        record = item.entry.record
        print(
            f"{record.incident_id:<20}  {record.pilot_zone:<14} {record.operator_id:<22} {record.rule_id:<26} "
            f"{record.severity:<8} {_utc(record.start_ms):<20} {_report_phrase(item)}"
        )
    counts = {status: sum(item.status == status for item in chosen) for status in REPORT_STATUSES}
    print(
        f"{len(chosen)} incidents: "
        + ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items())
    )
    return 0


def show_command(args: argparse.Namespace) -> int:
    """``incidents show``."""
    try:
        with Register.open(args.register) as register:
            entry = register.entry(args.incident_id)
    except RegisterError as exc:
        return _fail(args, str(exc))
    if entry is None:
        return _fail(args, f"no incident {args.incident_id!r} in the register", status=1)
    (item,) = obligations([entry], _now_ms(args))
    _print_one(item, as_json=args.json)
    return 0


def file_command(args: argparse.Namespace) -> int:
    """``incidents file``."""
    filed_at = int(args.at) if args.at is not None else round(time.time() * 1000)
    try:
        with Register.open(args.register) as register:
            entry = register.file_report(args.incident_id, Filing(args.reference, args.by, filed_at))
    except RegisterError as exc:
        return _fail(args, str(exc))
    (item,) = obligations([entry], filed_at)
    if args.json:
        _print_one(item, as_json=True)
    else:
        late = " (after the deadline)" if item.filed_late else ""
        print(f"filed: incident {entry.record.incident_id} as {args.reference} by {args.by}{late}")
    return 0


def metrics_command(args: argparse.Namespace) -> int:
    """``incidents metrics``."""
    from prometheus_client.openmetrics.exposition import generate_latest

    from pilotzone.pipelines.metrics.export import EndpointOptions, MetricsEndpoint, push, registry_of
    from pilotzone.pipelines.register.metrics import RegisterCollector

    problem = register_problem(args.register)
    if problem is not None:
        return _fail(args, problem)
    clock = (lambda: args.now / 1000) if args.now is not None else time.time
    registry = registry_of(RegisterCollector(args.register, clock))
    try:
        text = generate_latest(registry)
        if args.metrics_file is not None:
            args.metrics_file.write_bytes(text)
        if args.pushgateway is not None:
            push(registry, args.pushgateway, "register")
        if args.metrics_file is None and args.pushgateway is None and args.metrics_port is None:
            sys.stdout.write(text.decode())
        if args.metrics_port is not None:
            endpoint = MetricsEndpoint(
                registry, EndpointOptions(port=args.metrics_port, host=args.metrics_host)
            )
            print(f"serving the register's report metrics on {endpoint.url} (Ctrl-C stops)", flush=True)
            try:
                with contextlib.suppress(KeyboardInterrupt):
                    time.sleep(args.serve_for if args.serve_for is not None else float("inf"))
            finally:
                endpoint.close()
    except OSError as exc:
        return _fail(args, str(exc))
    return 0


def _utc(time_ms: int) -> str:
    return dt.datetime.fromtimestamp(time_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _report_phrase(item: Obligation) -> str:
    record, filing = item.entry.record, item.entry.filing
    if item.status == "not_required":
        return "not required"
    assert record.report_deadline_ms is not None
    deadline = _utc(record.report_deadline_ms)
    if filing is not None:
        late = ", late" if item.filed_late else ""
        return f"filed {_utc(filing.filed_at_ms)} as {filing.reference} by {filing.filed_by}{late}"
    if item.status == "overdue":
        return f"OVERDUE since {deadline} ({(item.overdue_s or 0) / 3600:.1f} h)"
    return f"due by {deadline}"


def _print_one(item: Obligation, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(item.to_json(), ensure_ascii=False, indent=1))
        return
    record = item.entry.record
    end = "still open at the end of the data" if record.end_ms is None else _utc(record.end_ms)
    lines = [
        f"incident     {record.incident_id} ({record.status.lower()})",
        f"zone, area   {record.pilot_zone}, {record.area or 'zone-wide'}",
        f"rule         {record.rule_id} ({record.kind}, {record.severity}), config {record.config_version}",
        f"operator     {record.operator_id}, vehicle {record.vehicle_id} ({record.vehicle_class})",
        f"from, to     {_utc(record.start_ms)} UTC, {end}",
        f"where        {record.latitude:.6f}, {record.longitude:.6f}",
        f"what         {record.explanation}",
        f"report       {_report_phrase(item)}",
    ]
    print("\n".join(lines))
