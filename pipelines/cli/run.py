"""``pilotzone run`` (replay stored telemetry) and ``pilotzone demo`` (simulate, then replay).

Apache Beam is imported only when one of these runs, so the maker-facing commands start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pilotzone.pipelines.metrics.export import (
    DEFAULT_PORT,
    BasicAuth,
    EndpointOptions,
    Exporter,
    ExportSettings,
    PipelineFigures,
)
from pilotzone.zones import SHIPPED_CONFIGS, Zone, ZoneConfigError, load_zones

LOG = logging.getLogger("pilotzone.run")


def add_parser(subparsers: Any) -> None:
    """Register ``run`` and ``demo``."""
    run = subparsers.add_parser(
        "run",
        help="replay stored Avro telemetry through the compliance pipeline",
        description="Replay Avro telemetry files through the compliance pipeline on the local runner and exit "
        "when the input is done. Writes the incident log (JSON Lines), optionally incidents as Avro, window "
        "summaries and dead letters, and prints a short compliance summary. Every option can also be set in "
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
        "--dead-letter", type=Path, metavar="FILE.jsonl", help="dead letters (default: beside incidents)"
    )
    run.add_argument(
        "--summaries", type=Path, metavar="FILE.jsonl", help="window summaries (default: beside incidents)"
    )
    run.add_argument(
        "--spill-buckets",
        type=int,
        metavar="N",
        help="group vehicles on disk in N buckets to bound memory (1: in memory; default: one bucket per "
        "128 MiB of input)",
    )
    run.add_argument("--spill-dir", type=Path, metavar="DIR", help="where the temporary spill folder goes")
    _add_operation_arguments(run, port=None, linger_s=60.0)
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
    demo.add_argument("--duration", type=float, default=900, metavar="SECONDS", help="simulated time (900)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (7)")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR", help="output folder")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    _add_operation_arguments(demo, port=DEFAULT_PORT, linger_s=0.0)
    demo.set_defaults(func=demo_command)


ENV_PREFIX = "PILOTZONE_"


def environment_defaults(parser: argparse.ArgumentParser) -> None:
    """Let every option default to ``PILOTZONE_<OPTION>`` from the environment.

    Containers and Kubernetes pass settings as environment variables; a flag on the command
    line still wins. A required option set in the environment is no longer required; a list
    option (``--zones``) takes a comma-separated value; a switch takes 1/true/yes.
    """
    for action in parser._actions:
        if not action.option_strings or action.dest in {"help"}:
            continue
        name = ENV_PREFIX + action.option_strings[-1].lstrip("-").replace("-", "_").upper()
        if name not in os.environ:
            continue
        raw = os.environ[name]
        convert = action.type if callable(action.type) else str
        if isinstance(action, argparse._StoreTrueAction):
            value: Any = raw.strip().lower() in {"1", "true", "yes", "on"}
        elif isinstance(action, argparse._AppendAction):
            value = [convert(part) for part in raw.split(",") if part]
        else:
            value = convert(raw)
        action.default = value
        action.required = False
        action.help = f"{action.help} [from {name}]" if action.help else f"[from {name}]"


def _add_operation_arguments(parser: argparse.ArgumentParser, port: int | None, linger_s: float) -> None:
    """Options every pipeline command shares: log format and the metrics outputs."""
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines as text or as one JSON object per line for log collectors (text)",
    )
    metrics = parser.add_argument_group(
        "metrics",
        "Prometheus metrics of the run (catalog in the README). The endpoint serves the zone configs' "
        "versions and fleet caps while the pipeline runs and every figure once it is done.",
    )
    metrics.add_argument(
        "--metrics-port",
        type=int,
        default=port,
        metavar="PORT",
        help="serve /metrics on this port" + (f" ({port})" if port else " (off unless given)"),
    )
    metrics.add_argument(
        "--metrics-host", default="127.0.0.1", metavar="ADDR", help="address to listen on (127.0.0.1)"
    )
    metrics.add_argument(
        "--metrics-linger",
        type=float,
        default=linger_s,
        metavar="SECONDS",
        help=f"keep serving the final figures this long after the run, for scrapes ({linger_s:g})",
    )
    metrics.add_argument(
        "--metrics-tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate"
    )
    metrics.add_argument(
        "--metrics-tls-key", type=Path, metavar="PEM", help="private key of --metrics-tls-cert"
    )
    metrics.add_argument(
        "--metrics-auth-file",
        type=Path,
        metavar="FILE",
        help="require HTTP basic authentication; the file holds one line 'user:password'",
    )
    metrics.add_argument(
        "--metrics-file", type=Path, metavar="FILE", help="write the final OpenMetrics text here"
    )
    metrics.add_argument(
        "--pushgateway", metavar="URL", help="push the final figures to this Pushgateway (job=pilotzone)"
    )
    metrics.add_argument(
        "--pipeline-name",
        default="replay",
        metavar="NAME",
        help="the 'pipeline' grouping label on the Pushgateway (replay)",
    )


def start_exporter(zones: Sequence[Zone], args: argparse.Namespace) -> Exporter | None:
    """The run's metrics exporter, its endpoint open; ``None`` (with the reason printed) if the port is taken."""
    exporter = Exporter(zones, _export_settings(args))
    try:
        exporter.start()
    except OSError as exc:
        print(
            f"pilotzone: cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc}",
            file=sys.stderr,
        )
        return None
    return exporter


def _export_settings(args: argparse.Namespace) -> ExportSettings:
    """The metrics outputs the options ask for (raises ValueError for an unusable auth file)."""
    endpoint = None
    if args.metrics_port is not None:
        endpoint = EndpointOptions(
            port=args.metrics_port,
            host=args.metrics_host,
            tls_cert=args.metrics_tls_cert,
            tls_key=args.metrics_tls_key,
            basic_auth=None
            if args.metrics_auth_file is None
            else BasicAuth.from_file(args.metrics_auth_file),
        )
    return ExportSettings(
        endpoint=endpoint,
        metrics_file=args.metrics_file,
        pushgateway=args.pushgateway,
        pipeline=args.pipeline_name,
    )


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
    from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings, run_replay  # Beam loads here
    from pilotzone.pipelines.jobs.report import compliance_summary, read_jsonl

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
        spill_buckets=getattr(args, "spill_buckets", None),
        spill_dir=None if getattr(args, "spill_dir", None) is None else str(args.spill_dir),
    )
    exporter = start_exporter(zones, args)
    if exporter is None:
        return 2
    try:
        LOG.info(
            "replay of %s on %s, zones %s",
            input_pattern,
            settings.runner,
            ", ".join(f"{zone.zone_id} {zone.version}" for zone in zones),
        )
        counters = run_replay(zones, input_pattern, outputs, settings)
        LOG.info(
            "replay done: %d records read, %d decoded, %d dead-lettered",
            counters.get("records_read", 0),
            counters.get("records_decoded", 0),
            counters.get("records_dead_lettered", 0),
        )
        assert outputs.dead_letter_jsonl is not None and outputs.summaries_jsonl is not None
        logged, summaries = read_jsonl(outputs.incidents_jsonl), read_jsonl(outputs.summaries_jsonl)
        print(compliance_summary(logged, summaries, read_jsonl(outputs.dead_letter_jsonl), counters))
        print(f"incident log: {outputs.incidents_jsonl}")
        return _publish(exporter, args, PipelineFigures(summaries, logged, counters))
    finally:
        exporter.close()


def _publish(exporter: Exporter, args: argparse.Namespace, figures: PipelineFigures) -> int:
    """Hand the run's figures to the exporter and keep the endpoint up for ``--metrics-linger``."""
    try:
        exporter.finish(figures, time.time())
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
    _configure_logging(args.quiet, args.log_format)
    try:
        return _replay(args, args.input, args.incidents, args.incidents.parent)
    except OSError as exc:
        print(f"pilotzone run: {exc}", file=sys.stderr)
        return 2


def demo_command(args: argparse.Namespace) -> int:
    """``pilotzone demo``: simulate a fleet in a shipped zone, then replay it."""
    from pilotzone.pipelines.cli.simulate import print_progress
    from pilotzone.pipelines.simulator import SimulationOptions, simulate

    _configure_logging(args.quiet, args.log_format)
    config = SHIPPED_CONFIGS / f"{args.zone}.yaml"
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
        **{
            name: value
            for name, value in vars(args).items()
            if name.startswith(("metrics_", "pushgateway", "pipeline_"))
        },
    )
    if replay_args.metrics_file is None:
        replay_args.metrics_file = out / "metrics.txt"
    return _replay(replay_args, str(telemetry / "telemetry" / "**" / "*.avro"), out / "incidents.jsonl", out)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: what log collectors (Loki, Cloud Logging, Elastic) index as is."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _configure_logging(quiet: bool, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    # Beam logs every bundle at INFO; keep the operator's terminal for our progress lines.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
