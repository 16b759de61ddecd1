"""``pilotzone simulate``: write a simulated fleet's telemetry, with its ground truth, for tests and demos."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from pilotzone.pipelines.simulator import (
    DEFAULT_INJECT_RATES,
    DEFECT_KINDS,
    Progress,
    SimulationError,
    SimulationOptions,
    available_codecs,
    parse_inject,
    simulate,
)
from pilotzone.zones import Zone, ZoneConfigError, load_zones
from pilotzone.zones.model import RULE_KINDS


def add_parser(subparsers: Any) -> None:
    """Register ``simulate`` and its options."""
    defaults = ", ".join(f"{kind}={rate:g}" for kind, rate in DEFAULT_INJECT_RATES.items())
    parser = subparsers.add_parser(
        "simulate",
        help="write a simulated fleet's telemetry and the ground truth of its violations",
        description=(
            "Drive simulated vehicles through pilot zones and write what they would upload: one Avro "
            "container file per vehicle per time slice under OUT/telemetry/<zone>/<slice>/, plus "
            "OUT/ground_truth.jsonl (every violation and event in the data) and OUT/manifest.json. "
            "Baseline vehicles keep every rule; chosen vehicles break one rule each. The output is "
            "byte-identical for the same options and seed, whatever --workers is."
        ),
    )
    parser.add_argument(
        "--zones",
        action="append",
        required=True,
        metavar="PATH",
        help="a zone config file or a folder of them (repeatable)",
    )
    parser.add_argument(
        "--geometry-root", type=Path, metavar="DIR", help="folder that file: geometry must lie under"
    )
    parser.add_argument(
        "--zone", metavar="ZONE_ID", help="simulate only this zone (default: every zone loaded)"
    )
    parser.add_argument("--vehicles", type=int, required=True, metavar="N", help="vehicles in each zone")
    parser.add_argument("--duration", type=float, required=True, metavar="SECONDS", help="simulated time")
    parser.add_argument(
        "--rate", type=float, required=True, metavar="HZ", help="samples per second per vehicle"
    )
    parser.add_argument("--seed", type=int, required=True, metavar="K", help="random seed")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (must not hold a simulation)"
    )
    parser.add_argument(
        "--start",
        metavar="ISO8601",
        help="start of the simulated window, e.g. 2026-11-23T10:00:00+09:00; without an offset it is read in "
        "each zone's timezone (default: Monday 2026-11-23 10:00 local time)",
    )
    parser.add_argument(
        "--slice",
        type=int,
        default=60,
        metavar="SECONDS",
        help="upload slice: one file per vehicle per slice (60)",
    )
    parser.add_argument("--codec", default="deflate", choices=available_codecs(), help="Avro codec (deflate)")
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help=f"fraction of vehicles that break a rule of KIND, one of {', '.join(RULE_KINDS)}, or all=RATE for "
        f"every kind (repeatable; defaults {defaults})",
    )
    parser.add_argument(
        "--defects",
        type=float,
        default=0.0,
        metavar="RATE",
        help=f"fraction of vehicles that also send one contract defect ({', '.join(DEFECT_KINDS)}); default 0",
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (1)")
    parser.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    parser.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Simulate and write; 0 when written, 2 for unusable options or zones, 1 if writing failed."""
    try:
        options, zones = _prepare(args)
    except ZoneConfigError as exc:
        print(f"pilotzone simulate: zone configs have problems:\n{exc}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"pilotzone simulate: {exc}", file=sys.stderr)
        return 2
    try:
        manifest = simulate(
            zones,
            options,
            args.out,
            progress=None if args.quiet else print_progress,
            warn=lambda message: print(f"pilotzone simulate: warning: {message}", file=sys.stderr),
        )
    except SimulationError as exc:
        print(f"pilotzone simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pilotzone simulate: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for zone in manifest["zones"]:
            found = ", ".join(f"{kind} {count}" for kind, count in zone["ground_truth"].items()) or "none"
            print(
                f"{zone['zone_id']}: {zone['vehicles']} vehicles, {zone['samples_written']:,} samples in "
                f"{zone['files']:,} files; ground truth: {found}",
                file=sys.stderr,
            )
    return 0


def _prepare(args: argparse.Namespace) -> tuple[SimulationOptions, list[Zone]]:
    start: dt.datetime | None = None
    if args.start is not None:
        try:
            start = dt.datetime.fromisoformat(args.start)
        except ValueError:
            raise SimulationError(
                f"--start {args.start!r}: give an ISO 8601 time such as 2026-11-23T10:00:00+09:00"
            ) from None
    options = SimulationOptions(
        vehicles=args.vehicles,
        duration_s=args.duration,
        rate_hz=args.rate,
        seed=args.seed,
        start=start,
        slice_s=args.slice,
        codec=args.codec,
        inject=parse_inject(args.inject),
        defects=args.defects,
        workers=args.workers,
    )
    problems = options.problems()
    if problems:
        raise SimulationError("\n".join(problems))
    loaded = load_zones(args.zones, geometry_root=args.geometry_root)
    if args.zone is None:
        return options, loaded
    zones = [zone for zone in loaded if zone.zone_id == args.zone]
    if not zones:
        known = ", ".join(zone.zone_id for zone in loaded) or "none"
        raise SimulationError(f"--zone {args.zone}: no such zone in {', '.join(args.zones)} (zones: {known})")
    return options, zones


def print_progress(progress: Progress) -> None:
    eta = progress.eta_s
    left = "" if eta is None else f", about {_duration(eta)} left"
    print(
        f"simulate: {progress.vehicles_done}/{progress.vehicles_total} vehicles, "
        f"{progress.samples_written:,} samples, {progress.samples_per_s:,.0f} samples/s{left}",
        file=sys.stderr,
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
