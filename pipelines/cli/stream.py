"""``pilotzone stream``: the unbounded pipeline on a named runner (direct, Flink, Dataflow).

Every option can also come from the environment as ``PILOTZONE_<OPTION>`` (``--kafka-topic``
→ ``PILOTZONE_KAFKA_TOPIC``), which is how containers and Kubernetes pass settings; a flag
on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import logging
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilotzone.pipelines.cli.environment import environment_defaults
from pilotzone.pipelines.cli.incidents import add_register_argument, register_problem
from pilotzone.pipelines.cli.operation import add_operation_arguments, configure_logging, start_exporter
from pilotzone.pipelines.jobs.manifest import MANIFEST_FILE, RunRecord, remove_stale_manifest, write_manifest
from pilotzone.pipelines.jobs.runners import DEFAULT_STREAM_RUNNER, RUNNERS, STREAM_RUNNERS, prism_binary
from pilotzone.pipelines.jobs.stream_manifest import counters_from_metrics_file, stream_outputs
from pilotzone.zones import Zone, ZoneConfigError, load_zones
from pilotzone.zones.fences import Fence, load_fences

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pilotzone.pipelines.jobs.stream import SourceOptions, StreamSinks

LOCAL_RUNNERS = ("prism", "direct")
"""Runners whose workers run here: the command starts the Kafka expansion service for them."""

LOG = logging.getLogger("pilotzone.stream")


def add_parser(subparsers: Any) -> None:
    """Register ``stream``."""
    stream = subparsers.add_parser(
        "stream",
        help="run the compliance pipeline on a stream (watched folder, Kafka or Pub/Sub)",
        description="Run the compliance pipeline on unbounded input. Incident lifecycle records, window "
        "summaries and dead letters go to minute files under --incidents-dir (and incidents to a Kafka topic "
        "with --incidents-topic); metrics are pushed to --pushgateway. Extra Beam options (project, region, "
        "temp_location ...) follow a '--'. Every option can be set as PILOTZONE_<OPTION> in the environment.",
    )
    stream.add_argument(
        "--zones", required=True, action="append", type=Path, metavar="PATH", help="zone configs"
    )
    stream.add_argument(
        "--geometry-root", type=Path, metavar="DIR", help="folder that file: geometry must lie under"
    )
    stream.add_argument(
        "--fences",
        type=Path,
        metavar="DIR",
        help="a folder of emergency fences, watched while the stream runs (pilotzone fences publish ... --to DIR)",
    )
    stream.add_argument(
        "--fences-topic",
        metavar="TOPIC",
        help="Kafka source: a compacted topic of emergency fences on the same bootstrap, read from its "
        "beginning (pilotzone fences publish ... --to kafka://HOST:PORT/TOPIC)",
    )
    stream.add_argument(
        "--source", required=True, choices=["folder", "kafka", "pubsub"], help="where telemetry comes from"
    )
    stream.add_argument(
        "--watch", metavar="GLOB", help="folder source: files to pick up, e.g. '/data/incoming/**/*.avro'"
    )
    stream.add_argument(
        "--poll", type=float, default=10.0, metavar="SECONDS", help="folder source: poll interval (10)"
    )
    stream.add_argument(
        "--run-for",
        type=float,
        metavar="SECONDS",
        help="folder source: stop watching after this long, then drain (flush open incidents) and exit",
    )
    stream.add_argument("--kafka-bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers")
    stream.add_argument("--kafka-topic", metavar="TOPIC", help="Kafka topic of telemetry messages")
    stream.add_argument(
        "--kafka-group", default="pilotzone", metavar="GROUP", help="Kafka consumer group (pilotzone)"
    )
    stream.add_argument(
        "--kafka-expansion-service",
        metavar="HOST:PORT",
        help="a running Beam Java expansion service for Kafka (default: start one from the engine cache)",
    )
    stream.add_argument(
        "--pubsub-subscription", metavar="projects/P/subscriptions/S", help="Pub/Sub subscription"
    )
    stream.add_argument(
        "--incidents-dir", required=True, metavar="DIR", help="folder or bucket for the output files"
    )
    stream.add_argument(
        "--incidents-topic", metavar="TOPIC", help="also write incident lifecycle records to Kafka"
    )
    add_register_argument(stream)
    stream.add_argument("--window", type=int, default=60, metavar="SECONDS", help="summary window (60)")
    stream.add_argument("--allowed-lateness", type=float, default=30.0, metavar="SECONDS", help="(30)")
    stream.add_argument(
        "--tick",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="evaluation points due within one tick of event time are carried out together (1)",
    )
    stream.add_argument(
        "--shards",
        type=int,
        default=16,
        metavar="N",
        help="keys of the stateful step; vehicles spread over them (16)",
    )
    stream.add_argument(
        "--runner",
        default=DEFAULT_STREAM_RUNNER,
        choices=sorted(STREAM_RUNNERS),
        help=f"execution engine ({DEFAULT_STREAM_RUNNER}: Beam's local streaming runner)",
    )
    stream.add_argument("--flink-master", metavar="HOST:PORT", help="Flink JobManager REST address")
    stream.add_argument(
        "--environment-type", choices=["LOOPBACK", "EXTERNAL", "DOCKER", "PROCESS"], help="Beam SDK harness"
    )
    stream.add_argument("--environment-config", metavar="CONFIG", help="e.g. localhost:50000 for EXTERNAL")
    stream.add_argument(
        "--push-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how often the live figures are published to the metrics file and Pushgateway (15)",
    )
    stream.add_argument("--quiet", action="store_true", help="warnings only")
    stream.add_argument("beam_options", nargs=argparse.REMAINDER, help="-- then extra Beam pipeline options")
    add_operation_arguments(stream, port=None, linger_s=0.0)
    environment_defaults(stream)
    stream.set_defaults(func=stream_command, pipeline_name="stream")


def beam_arguments(args: argparse.Namespace) -> list[str]:
    """Beam pipeline options for the chosen runner (the named engine, always streaming)."""
    options = [f"--runner={RUNNERS[args.runner]}"]
    if args.runner != "direct":
        options.append("--streaming")
    if args.runner == "prism":
        options += [f"--prism_location={prism_binary()}", "--prism_log_level=warn"]
    if args.runner == "flink":
        if not args.flink_master:
            raise ValueError("--runner flink needs --flink-master HOST:PORT (the JobManager's REST address)")
        options.append(f"--flink_master={args.flink_master}")
    if args.environment_type:
        options.append(f"--environment_type={args.environment_type}")
    if args.environment_config:
        options.append(f"--environment_config={args.environment_config}")
    extra = [option for option in (args.beam_options or []) if option != "--"]
    return options + extra


def run_id() -> str:
    """This run's name in its output files: start time and a random tail (two starts in a second)."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def stream_command(args: argparse.Namespace) -> int:
    """``pilotzone stream``: build and run; 2 for unusable options, configs or sources."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pilotzone.pipelines.jobs.stream import SourceOptions, StreamSinks
    from pilotzone.pipelines.live.engines import EnginesMissingError
    from pilotzone.pipelines.live.expansion import ExpansionService
    from pilotzone.pipelines.live.process import ProcessStartError

    configure_logging(args.quiet, args.log_format)
    try:
        zones = load_zones(args.zones, geometry_root=args.geometry_root)
    except ZoneConfigError as exc:
        print(f"pilotzone: the zone configs have problems:\n{exc}", file=sys.stderr)
        return 2
    fences = None
    if args.fences is not None:
        if not args.fences.is_dir():
            print(f"pilotzone stream: --fences {args.fences} is not a folder: create it", file=sys.stderr)
            return 2
        try:
            fences = load_fences([args.fences], geometry_root=args.geometry_root)
        except ZoneConfigError as exc:
            print(f"pilotzone: the fences have problems:\n{exc}", file=sys.stderr)
            return 2
    source = SourceOptions(
        kind=args.source,
        watch=args.watch,
        poll_s=args.poll,
        stop_at_s=None if args.run_for is None else time.time() + args.run_for,
        kafka_bootstrap=args.kafka_bootstrap,
        kafka_topic=args.kafka_topic,
        kafka_group=args.kafka_group,
        kafka_expansion_service=args.kafka_expansion_service,
        kafka_commit_with_checkpoints=args.runner not in LOCAL_RUNNERS,
        pubsub_subscription=args.pubsub_subscription,
    )
    # Where the pipeline's collector step writes the live figures; the endpoint serves that file.
    metrics_file = args.metrics_file
    if metrics_file is None and "://" not in args.incidents_dir:
        metrics_file = Path(args.incidents_dir) / "metrics.txt"
    sinks = StreamSinks(
        incidents_dir=args.incidents_dir,
        incidents_topic=args.incidents_topic,
        kafka_bootstrap=args.kafka_bootstrap,
        pushgateway=args.pushgateway,
        metrics_file=None if metrics_file is None else str(metrics_file),
        pipeline_name=args.pipeline_name,
        push_interval_s=args.push_interval,
        run_id=run_id(),
        register=args.register,
    )
    problems = source.problems()
    register = register_problem(args.register)
    if register is not None:
        problems.append(register)
    if args.source == "folder" and args.watch and "://" not in args.watch:
        prefix = args.watch.split("*", 1)[0]  # the folder part before the first wildcard
        base = Path(prefix) if prefix.endswith("/") else Path(prefix).parent
        if not base.is_dir():
            problems.append(
                f"--watch {args.watch}: folder {base} does not exist (create it, or fix the path)"
            )
    if args.fences_topic and args.source != "kafka":
        problems.append("--fences-topic needs --source kafka (fences are read from the telemetry's broker)")
    if args.fences_topic and args.fences is not None:
        problems.append("give --fences DIR or --fences-topic TOPIC, not both")
    if args.incidents_topic and not args.kafka_bootstrap:
        problems.append("--incidents-topic needs --kafka-bootstrap HOST:PORT")
    if not args.tick >= 0:
        problems.append(f"--tick {args.tick:g}: give 0 or more seconds")
    if args.shards < 1:
        problems.append(f"--shards {args.shards}: give 1 or more")
    try:
        arguments = beam_arguments(args)
        PipelineOptions(arguments)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        print("pilotzone stream: " + "; ".join(problems), file=sys.stderr)
        return 2
    if args.fences_topic:
        # Before the job starts: a consumer asking for a missing topic could have the broker
        # create it with deletion by age, which would later drop fences still in force.
        from pilotzone.pipelines.live.fence_topic import FenceTopic, FenceTopicError, ensure_compacted_topic

        try:
            ensure_compacted_topic(FenceTopic(args.kafka_bootstrap, args.fences_topic))
        except FenceTopicError as exc:
            print(f"pilotzone stream: --fences-topic: {exc}", file=sys.stderr)
            return 2
    with contextlib.ExitStack() as services:
        uses_kafka = args.source == "kafka" or bool(args.incidents_topic)
        if uses_kafka and not args.kafka_expansion_service and args.runner in LOCAL_RUNNERS:
            try:
                expansion = services.enter_context(ExpansionService())
            except (EnginesMissingError, ProcessStartError) as exc:
                print(f"pilotzone stream: Kafka needs Beam's Java expansion service: {exc}", file=sys.stderr)
                return 2
            source = dataclasses.replace(source, kafka_expansion_service=expansion.address)
            sinks = dataclasses.replace(sinks, kafka_expansion_service=expansion.address)
            arguments += expansion.pipeline_args()
        elif args.kafka_expansion_service:
            sinks = dataclasses.replace(sinks, kafka_expansion_service=args.kafka_expansion_service)
        return _run_stream(
            args,
            zones,
            source=source,
            sinks=sinks,
            options=PipelineOptions(arguments),
            metrics_file=metrics_file,
            fences=None if fences is None else (str(args.fences), tuple(fences)),
        )


def _run_stream(
    args: argparse.Namespace,
    zones: list[Zone],
    *,
    source: SourceOptions,
    sinks: StreamSinks,
    options: PipelineOptions,
    metrics_file: Path | None,
    fences: tuple[str, tuple[Fence, ...]] | None = None,
) -> int:
    """Serve metrics, run the pipeline until it ends or is stopped; the exit status."""
    import apache_beam as beam

    from pilotzone.pipelines.jobs.stream import ReadPayloads, build_stream
    from pilotzone.pipelines.transforms.fences import StreamFences
    from pilotzone.pipelines.transforms.streaming import StreamSettings

    settings = StreamSettings(
        window_s=args.window, allowed_lateness_s=args.allowed_lateness, shards=args.shards, tick_s=args.tick
    )
    watched = None
    if fences is not None:
        watched = StreamFences(fences[0], poll_s=source.poll_s, stop_at_s=source.stop_at_s, fences=fences[1])
    elif args.fences_topic:
        watched = StreamFences(
            topic=args.fences_topic,
            kafka_bootstrap=source.kafka_bootstrap,
            kafka_expansion_service=source.kafka_expansion_service,
        )
    exporter = start_exporter(zones, args)
    if exporter is None:
        return 2
    if metrics_file is not None:
        exporter.follow(metrics_file)
    local_outputs = "://" not in sinks.incidents_dir and metrics_file is not None
    manifest = Path(sinks.incidents_dir) / MANIFEST_FILE
    if local_outputs:
        remove_stale_manifest(manifest)  # until this run's is written, the folder says "incomplete"
    began = dt.datetime.now(dt.UTC)
    started = began.isoformat(timespec="seconds")
    LOG.info("stream %s from %s on %s, zones %s", args.pipeline_name, args.source, args.runner,
             ", ".join(f"{z.zone_id} {z.version}" for z in zones))  # fmt: skip
    try:
        pipeline = beam.Pipeline(options=options)
        build_stream(pipeline, ReadPayloads(source), zones, settings, sinks, fences=watched)
        result = pipeline.run()
        stopped = run_until_stopped(result)
    except RuntimeError as exc:  # a source or sink the runner could not reach
        print(f"pilotzone stream: the pipeline failed: {exc}", file=sys.stderr)
        return 1
    finally:
        exporter.close()
    if stopped is not None:
        LOG.info("stream %s started %s stopped on %s", args.pipeline_name, started, stopped)
    else:
        LOG.info("stream %s started %s has drained", args.pipeline_name, started)
    if local_outputs and metrics_file is not None:
        incidents_dir = Path(sinks.incidents_dir)
        details = {"run_id": sinks.run_id, "stopped_by": stopped or "drain"}
        files = [
            *stream_outputs(incidents_dir, sinks.run_id),
            *([metrics_file] if metrics_file.exists() else []),
        ]
        source_name = (
            args.watch
            if args.source == "folder"
            else f"{args.source}://{args.kafka_topic or args.pubsub_subscription}"
        )
        counters = counters_from_metrics_file(metrics_file)
        write_manifest(
            RunRecord("stream", source_name, [], zones, counters, files, began, details=details), manifest
        )
    return 0


STOP_GRACE_S = 20.0
"""How long a stop waits for the runner to cancel the job before giving up on it."""


def run_until_stopped(result: Any) -> str | None:
    """Wait for the job to end by itself, or cancel it on SIGINT/SIGTERM; the signal's name or None.

    What a stop keeps: every output file already written (files appear whole, by rename), the
    metrics file as last written, and the Kafka offsets committed so far, so a restart resumes
    there. Incidents still open stay open in the files: a cancel does not flush them (a drain,
    where the runner offers one, does; see the README).
    """
    received: list[str] = []
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def stop(signum: int, _frame: Any) -> None:
        received.append(signal.Signals(signum).name)

    def wait() -> None:
        try:
            outcome["state"] = result.wait_until_finish()
        except RuntimeError as exc:
            outcome["error"] = exc
        finally:
            finished.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # The job is watched from a thread so that the main thread stays free for signals.
        threading.Thread(target=wait, name="wait-for-job", daemon=True).start()
        while not finished.wait(0.5) and not received:
            pass
        if received:
            LOG.warning("%s received: cancelling the job (at most %g s)", received[0], STOP_GRACE_S)
            result.cancel()
            if not finished.wait(STOP_GRACE_S):
                LOG.warning("the runner did not confirm the cancel within %g s", STOP_GRACE_S)
            error = outcome.get("error")
            # Prism reports a cancelled job as failed "in state CANCELLED": that is the stop itself.
            if error is not None and "CANCELLED" not in str(error):
                raise error
            return received[0]
        if "error" in outcome:
            raise outcome["error"]
        return None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
