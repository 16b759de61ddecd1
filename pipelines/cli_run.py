"""``pilotzone run`` (replay stored telemetry) and ``pilotzone demo`` (simulate, then replay).

Apache Beam is imported only when one of these runs, so the maker-facing commands start fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from zones.loader import ZoneConfigError, load_zones

SHIPPED_ZONES = Path(__file__).resolve().parent.parent / "zones" / "configs"


def add_parser(subparsers: Any) -> None:
    """Register ``run`` and ``demo``."""
    run = subparsers.add_parser(
        "run",
        help="replay stored Avro telemetry through the compliance pipeline",
        description="Replay Avro telemetry files through the compliance pipeline on the local runner and exit "
        "when the input is done. Writes the incident log (JSON Lines), optionally incidents as Avro, window "
        "summaries and dead letters, and prints a short compliance summary.",
    )
    _add_pipeline_arguments(run)
    run.add_argument(
        "--input", required=True, metavar="GLOB", help="Avro files to replay, e.g. 'out/**/*.avro'"
    )
    run.add_argument(
        "--incidents", required=True, type=Path, metavar="FILE.jsonl", help="incident log to write"
    )
    run.add_argument("--incidents-avro", type=Path, metavar="FILE.avro", help="also write incidents as Avro")
    run.add_argument(
        "--dead-letter", type=Path, metavar="FILE.jsonl", help="dead letters (default: beside incidents)"
    )
    run.add_argument(
        "--summaries", type=Path, metavar="FILE.jsonl", help="window summaries (default: beside incidents)"
    )
    run.set_defaults(func=run_command)

    demo = subparsers.add_parser(
        "demo",
        help="simulate a fleet in a shipped zone and replay it end to end",
        description="Simulate a fleet in a shipped zone (with injected violations of every rule kind), replay it "
        "through the compliance pipeline and print the compliance summary. Leaves telemetry, ground truth, "
        "incident log, summaries and dead letters in --out.",
    )
    demo.add_argument("--zone", default="gwangju", help="shipped zone id (gwangju, seoul-gangnam, sejong)")
    demo.add_argument("--vehicles", type=int, default=60, metavar="N", help="vehicles (60)")
    demo.add_argument("--duration", type=float, default=900, metavar="SECONDS", help="simulated time (900)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (7)")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR", help="output folder")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=demo_command)


def _add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--zones",
        required=True,
        action="append",
        type=Path,
        metavar="PATH",
        help="zone config file or folder",
    )
    parser.add_argument("--repair-geometry", action="store_true", help="repair invalid zone polygons")
    parser.add_argument("--window", type=int, default=60, metavar="SECONDS", help="summary window (60)")
    parser.add_argument(
        "--allowed-lateness",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how far behind the watermark a sample may arrive before it is dead-lettered as late (30)",
    )
    parser.add_argument(
        "--runner",
        default="direct",
        choices=["direct", "direct-multiprocess"],
        help="execution engine: direct (in-process FnApiRunner) or direct-multiprocess",
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="processes for direct-multiprocess (2)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _replay(args: argparse.Namespace, input_pattern: str, incidents: Path, out_dir: Path) -> int:
    from pipelines.replay import ReplayOutputs, ReplaySettings, run_replay  # Beam loads here
    from pipelines.report import compliance_summary, read_jsonl

    try:
        zones = load_zones(args.zones, repair_geometry=args.repair_geometry)
    except ZoneConfigError as exc:
        print(f"pilotzone: the zone configs have problems:\n{exc}", file=sys.stderr)
        return 2
    outputs = ReplayOutputs(
        incidents_jsonl=incidents,
        incidents_avro=getattr(args, "incidents_avro", None),
        dead_letter_jsonl=getattr(args, "dead_letter", None) or out_dir / "dead-letters.jsonl",
        summaries_jsonl=getattr(args, "summaries", None) or out_dir / "summaries.jsonl",
    )
    settings = ReplaySettings(
        window_s=args.window,
        allowed_lateness_s=args.allowed_lateness,
        runner=args.runner,
        workers=args.workers,
        progress=not args.quiet,
    )
    counters = run_replay(zones, input_pattern, outputs, settings)
    assert outputs.dead_letter_jsonl is not None and outputs.summaries_jsonl is not None
    print(
        compliance_summary(
            read_jsonl(outputs.incidents_jsonl),
            read_jsonl(outputs.summaries_jsonl),
            read_jsonl(outputs.dead_letter_jsonl),
            counters,
        )
    )
    print(f"incident log: {outputs.incidents_jsonl}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """``pilotzone run``: replay and print the summary; 2 for unusable configs or input."""
    _configure_logging(args.quiet)
    try:
        return _replay(args, args.input, args.incidents, args.incidents.parent)
    except OSError as exc:
        print(f"pilotzone run: {exc}", file=sys.stderr)
        return 2


def demo_command(args: argparse.Namespace) -> int:
    """``pilotzone demo``: simulate a fleet in a shipped zone, then replay it."""
    from pipelines.cli_simulate import print_progress
    from pipelines.simulate import SimulationOptions, simulate

    _configure_logging(args.quiet)
    config = SHIPPED_ZONES / f"{args.zone}.yaml"
    if not config.exists():
        print(
            f"pilotzone demo: no shipped zone {args.zone!r} (have: gwangju, seoul-gangnam, sejong)",
            file=sys.stderr,
        )
        return 2
    out: Path = args.out
    # Named by what it holds: the simulation is deterministic, so a second demo with the same
    # options reuses it instead of refusing to overwrite it.
    telemetry = out / f"simulation-{args.zone}-{args.vehicles}x{args.duration:g}s-seed{args.seed}"
    if not (telemetry / "manifest.json").exists():
        simulate(
            load_zones([config]),
            SimulationOptions(vehicles=args.vehicles, duration_s=args.duration, rate_hz=1.0, seed=args.seed),
            telemetry,
            progress=None if args.quiet else print_progress,
        )
    replay_args = argparse.Namespace(
        zones=[config],
        repair_geometry=False,
        window=60,
        allowed_lateness=30.0,
        runner="direct",
        workers=1,
        quiet=args.quiet,
    )
    return _replay(replay_args, str(telemetry / "telemetry" / "**" / "*.avro"), out / "incidents.jsonl", out)


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Beam logs every bundle at INFO; keep the operator's terminal for our progress lines.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
