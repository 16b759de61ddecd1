"""``pilotzone run`` (replay stored telemetry) and ``pilotzone demo`` (simulate, then replay).

Apache Beam is imported only when one of these runs, so the maker-facing commands start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilotzone.pipelines.cli.environment import environment_defaults
from pilotzone.pipelines.cli.incidents import add_register_argument, register_problem
from pilotzone.pipelines.cli.operation import add_operation_arguments, configure_logging, start_exporter
from pilotzone.pipelines.digests import read_input_digests
from pilotzone.pipelines.jobs.manifest import (
    MANIFEST_FILE,
    RunRecord,
    remove_stale_manifest,
    write_manifest,
)
from pilotzone.pipelines.jobs.runners import REPLAY_RUNNERS
from pilotzone.pipelines.metrics.export import Exporter, PipelineFigures
from pilotzone.pipelines.metrics.server import DEFAULT_PORT
from pilotzone.zones import SHIPPED_CONFIGS, Zone, ZoneConfigError, load_zones
from pilotzone.zones.fences import Fence, load_fences
from pilotzone.zones.fences.figures import FenceFigures, observation_from_json

if TYPE_CHECKING:  # Beam loads only when a replay runs
    from apache_beam.io.filesystem import FileMetadata

    from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings

LOG = logging.getLogger("pilotzone.run")


def add_parser(subparsers: Any) -> None:
    """Register ``run`` and ``demo``."""
    run = subparsers.add_parser(
        "run",
        help="replay stored Avro telemetry through the compliance pipeline",
        description="Replay Avro telemetry files through the compliance pipeline on the local runner and exit "
        "when the input is done. Writes the incident log (JSON Lines), optionally incidents as Avro, window "
        "summaries and dead letters, and prints a short compliance summary; writes run-manifest.json beside the "
        "incident log last (pilotzone manifest verify checks it). Every option can also be set in "
        "the environment as PILOTZONE_<OPTION> (--allowed-lateness: PILOTZONE_ALLOWED_LATENESS; lists "
        "comma-separated); flags win.",
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
        "--fences",
        type=Path,
        action="append",
        metavar="PATH",
        help="emergency fence file or folder: samples are also judged against the fences in force at their time",
    )
    run.add_argument(
        "--dead-letter", type=Path, metavar="FILE.jsonl", help="dead letters (default: beside incidents)"
    )
    run.add_argument(
        "--summaries", type=Path, metavar="FILE.jsonl", help="window summaries (default: beside incidents)"
    )
    run.add_argument(
        "--spill-buckets",
        type=int,
        metavar="N",
        help="group vehicles on disk in N buckets to bound memory (1: in memory; default: in memory up to "
        "128 MiB of input, then one bucket per 32 MiB and worker)",
    )
    run.add_argument("--spill-dir", type=Path, metavar="DIR", help="where the temporary spill folder goes")
    add_register_argument(run)
    run.add_argument(
        "--history-openmetrics",
        type=Path,
        metavar="FILE",
        help="also write the run's figures at their event times (one sample per summary window) as "
        "OpenMetrics, for `promtool tsdb create-blocks-from openmetrics FILE DATA_DIR`",
    )
    add_operation_arguments(run, port=None, linger_s=60.0)
    environment_defaults(run)
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
    demo.add_argument(
        "--duration", type=float, metavar="SECONDS", help="simulated time (900; live: 120 s of real time)"
    )
    demo.add_argument(
        "--live",
        action="store_true",
        help="run it live: a local Kafka broker, the fleet published in real time, the monitor on --runner "
        "printing incidents as they happen (needs deploy/engines/install-engines.sh)",
    )
    demo.add_argument(
        "--runner",
        default="prism",
        choices=["prism", "flink"],
        help="live: the streaming engine (prism; flink needs Beam's Flink job server, see the README)",
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (7)")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR", help="output folder")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    add_register_argument(demo)
    add_operation_arguments(demo, port=DEFAULT_PORT, linger_s=0.0)
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
    parser.add_argument(
        "--geometry-root", type=Path, metavar="DIR", help="folder that file: geometry must lie under"
    )
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
        choices=list(REPLAY_RUNNERS),
        help="execution engine: direct (in-process FnApiRunner) or direct-multiprocess",
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="processes for direct-multiprocess (2)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _load_zones(
    paths: list[Path], *, repair_geometry: bool = False, geometry_root: Path | None = None
) -> list[Zone] | None:
    """The zones, or ``None`` with every config problem printed."""
    try:
        return load_zones(paths, repair_geometry=repair_geometry, geometry_root=geometry_root)
    except ZoneConfigError as exc:
        print(f"pilotzone: the zone configs have problems:\n{exc}", file=sys.stderr)
        return None


def _load_fences(paths: list[Path], *, geometry_root: Path | None = None) -> list[Fence] | None:
    """The emergency fences, or ``None`` with every problem printed."""
    try:
        return load_fences(paths, geometry_root=geometry_root)
    except ZoneConfigError as exc:
        print(f"pilotzone: the fences have problems:\n{exc}", file=sys.stderr)
        return None


def _replay(
    zones: list[Zone],
    input_pattern: str,
    outputs: ReplayOutputs,
    settings: ReplaySettings,
    operation: argparse.Namespace,
) -> int:
    """Replay, print the compliance summary, publish the metrics ``operation`` asks for and
    write the run manifest last (``pilotzone.pipelines.jobs.manifest``)."""
    from pilotzone.pipelines.jobs.report import compliance_summary, read_jsonl
    from pilotzone.pipelines.transforms.inputs import match_inputs

    matched = match_inputs(input_pattern)  # an unusable pattern stops here, before anything changes
    problem = register_problem(outputs.register)
    if problem is not None:
        print(f"pilotzone: {problem}", file=sys.stderr)
        return 2
    exporter = start_exporter(zones, operation)
    if exporter is None:
        return 2
    manifest = outputs.incidents_jsonl.parent / MANIFEST_FILE
    # Before anything is written: from here until the new manifest, the folder says "incomplete".
    remove_stale_manifest(manifest)
    started = dt.datetime.now(dt.UTC)
    try:
        with tempfile.TemporaryDirectory(prefix="pilotzone-inputs-", dir=settings.spill_dir) as digests:
            observed = _fence_observations_file(Path(digests), settings)
            outputs = dataclasses.replace(outputs, input_digests=Path(digests), fence_observations=observed)
            counters = _run_logged(zones, input_pattern, outputs, settings, matched)
            inputs = read_input_digests(Path(digests))
            fences = None if observed is None else read_fence_figures(settings.fences, observed)
        assert outputs.dead_letter_jsonl is not None and outputs.summaries_jsonl is not None
        logged, summaries = read_jsonl(outputs.incidents_jsonl), read_jsonl(outputs.summaries_jsonl)
        print(compliance_summary(logged, summaries, read_jsonl(outputs.dead_letter_jsonl), counters))
        print(f"incident log: {outputs.incidents_jsonl}")
        if outputs.register is not None:
            print(f"incident register: {outputs.register} ({len(logged)} incidents upserted)")
        history = getattr(operation, "history_openmetrics", None)
        if history is not None:
            from pilotzone.pipelines.metrics.history import write_history

            written = write_history(history, zones, summaries, logged, settings.window_s, fences=fences)
            print(f"history: {history} ({written} samples at their event times)")
        exporter.publish(PipelineFigures(summaries, logged, counters, fences), time.time())
        files = outputs.files() + ([operation.metrics_file] if operation.metrics_file is not None else [])
        files += [Path(history)] if history is not None else []
        record = RunRecord(operation.command, input_pattern, inputs, zones, counters, files, started)
        write_manifest(record, manifest)
        print(f"run manifest: {manifest}")
        return _push_and_linger(exporter, operation)
    finally:
        exporter.close()


def _fence_observations_file(folder: Path, settings: ReplaySettings) -> Path | None:
    """Where the replay writes its fence observations: a sub-folder of the run's temporary
    folder (its own, as the digests' reader takes every JSON Lines file at the top); None
    without fences, so a run without them exports no fence family."""
    if not settings.fences:
        return None
    (folder / "fences").mkdir()
    return folder / "fences" / "observations.jsonl"


def read_fence_figures(fences: Sequence[Fence], path: Path) -> FenceFigures:
    """The fence figures of a replay: its fences, and the observations it wrote to ``path``."""
    from pilotzone.pipelines.jobs.report import read_jsonl

    figures = FenceFigures.of(fences)
    for row in read_jsonl(path):
        figures.add(observation_from_json(row))
    return figures


def _run_logged(
    zones: list[Zone],
    input_pattern: str,
    outputs: ReplayOutputs,
    settings: ReplaySettings,
    matched: Sequence[FileMetadata],
) -> dict[str, int]:
    """``run_replay``, with what it replays and what it counted in the log."""
    from pilotzone.pipelines.jobs.replay import run_replay  # Beam loads here

    LOG.info(
        "replay of %s on %s, zones %s",
        input_pattern,
        settings.runner,
        ", ".join(f"{zone.zone_id} {zone.version}" for zone in zones),
    )
    counters = run_replay(zones, input_pattern, outputs, settings, matched)
    LOG.info(
        "replay done: %d records read, %d decoded, %d dead-lettered",
        counters.get("records_read", 0),
        counters.get("records_decoded", 0),
        counters.get("records_dead_lettered", 0),
    )
    return counters


def _push_and_linger(exporter: Exporter, args: argparse.Namespace) -> int:
    """Push the published figures and keep the endpoint up for ``--metrics-linger``."""
    try:
        exporter.push()
    except OSError as exc:  # urllib's errors for an unreachable Pushgateway are OSErrors
        print(f"pilotzone: could not push metrics to {args.pushgateway}: {exc}", file=sys.stderr)
        return 1
    if args.metrics_file is not None:
        print(f"metrics: {args.metrics_file}")
    if exporter.endpoint is not None and args.metrics_linger <= 0:
        print(
            f"metrics were served on {exporter.endpoint.url} during the run (--metrics-linger keeps them up)"
        )
    if exporter.endpoint is not None and args.metrics_linger > 0:
        print(
            f"serving the final metrics on {exporter.endpoint.url} for {args.metrics_linger:g} s (Ctrl-C stops)"
        )
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.metrics_linger)
    return 0


def run_command(args: argparse.Namespace) -> int:
    """``pilotzone run``: replay and print the summary; 2 for unusable configs or input."""
    from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings  # Beam loads here
    from pilotzone.pipelines.transforms.inputs import InputPatternError

    configure_logging(args.quiet, args.log_format)
    try:
        zones = _load_zones(
            args.zones, repair_geometry=args.repair_geometry, geometry_root=args.geometry_root
        )
        if zones is None:
            return 2
        fences = _load_fences(args.fences or [], geometry_root=args.geometry_root)
        if fences is None:
            return 2
        out_dir = args.incidents.parent
        outputs = ReplayOutputs(
            incidents_jsonl=args.incidents,
            incidents_avro=args.incidents_avro,
            dead_letter_jsonl=args.dead_letter or out_dir / "dead-letters.jsonl",
            summaries_jsonl=args.summaries or out_dir / "summaries.jsonl",
            register=args.register,
        )
        # --allowed-lateness is accepted for symmetry with ``stream``: a replay's input is
        # whole before evaluation starts, so nothing in it is late.
        settings = ReplaySettings(
            window_s=args.window,
            runner=args.runner,
            workers=args.workers,
            progress=not args.quiet,
            spill_buckets=args.spill_buckets,
            spill_dir=None if args.spill_dir is None else str(args.spill_dir),
            fences=tuple(fences),
        )
        return _replay(zones, args.input, outputs, settings, args)
    except (OSError, InputPatternError) as exc:
        print(f"pilotzone run: {exc}", file=sys.stderr)
        return 2


def live_demo_command(args: argparse.Namespace, config: Path) -> int:
    """``pilotzone demo --live``: see ``pilotzone.pipelines.live.demo``."""
    from pilotzone.pipelines.live.demo import LiveDemoSettings, run_live_demo
    from pilotzone.pipelines.live.engines import EnginesMissingError

    if args.runner == "flink":
        print(
            "pilotzone demo: --runner flink needs Beam's Flink job-server jar, which Maven Central does not "
            "serve for Beam 2.73 (see the README, 'Streaming engines'); use --runner prism",
            file=sys.stderr,
        )
        return 2
    settings = LiveDemoSettings(
        zone_config=config,
        vehicles=args.vehicles,
        duration_s=120.0 if args.duration is None else args.duration,
        seed=args.seed,
        out=args.out,
        runner=args.runner,
    )
    try:
        return run_live_demo(settings, say=(lambda _line: None) if args.quiet else print)
    except (EnginesMissingError, ValueError) as exc:
        print(f"pilotzone demo: {exc}", file=sys.stderr)
        return 2


def demo_command(args: argparse.Namespace) -> int:
    """``pilotzone demo``: simulate a fleet in a shipped zone, then replay it."""
    from pilotzone.pipelines.cli.simulate import print_progress
    from pilotzone.pipelines.simulator import SimulationOptions, simulate

    configure_logging(args.quiet, args.log_format)
    config = SHIPPED_CONFIGS / f"{args.zone}.yaml"
    if not config.exists():
        print(
            f"pilotzone demo: no shipped zone {args.zone!r} (have: gwangju, seoul-gangnam, sejong)",
            file=sys.stderr,
        )
        return 2
    if args.live:
        return live_demo_command(args, config)
    if args.duration is None:
        args.duration = 900.0
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
    from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings

    zones = _load_zones([config])
    if zones is None:
        return 2
    operation = argparse.Namespace(**vars(args))
    if operation.metrics_file is None:
        operation.metrics_file = out / "metrics.txt"
    outputs = ReplayOutputs(
        incidents_jsonl=out / "incidents.jsonl",
        dead_letter_jsonl=out / "dead-letters.jsonl",
        summaries_jsonl=out / "summaries.jsonl",
        register=args.register,
    )
    settings = ReplaySettings(runner="direct", workers=1, progress=not args.quiet)
    return _replay(zones, str(telemetry / "telemetry" / "**" / "*.avro"), outputs, settings, operation)
