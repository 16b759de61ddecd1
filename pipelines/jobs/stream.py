"""The unbounded pipeline: production sources, incident and summary streams, metrics pushes.

Sources differ only in how payloads arrive; every one yields ``(source, bytes)`` pairs for
the same ``DecodeTelemetry`` step the replay uses:

* ``folder``: a watched folder or bucket of uploaded Avro files (``MatchContinuously``).
* ``kafka``: Beam's cross-language ``ReadFromKafka``; each record value is one message as the
  vehicles send it (Confluent framing, single-object encoding, or a whole container file).
  Element timestamps follow the records' create time, so the watermark follows uploads.
* ``pubsub``: ``ReadFromPubSub`` message payloads, in the same forms.

What an unbounded input changes, next to a replay:

* **Incidents** leave as lifecycle records (OPENED, UPDATED, CLOSED, with ``status``) the
  moment the evaluator emits them, into one sorted JSON Lines file per minute of output and
  optionally a Kafka topic (keyed by incident id, so a compacted topic keeps each incident's
  latest state). There is no "end of input", so no ``ConfirmGaps``: a gap is a gap.
* **Summaries** are merged per (zone, config version, operator, class, window) as partials arrive and
  re-emitted (accumulating) whenever a partial for that key arrives, so nothing is dropped
  for being late; each emission supersedes the previous one for its key.
* **Metrics**: one collector (a single-key stateful step) keeps the latest summary per key,
  the latest state of each incident and the dead-letter counts, and pushes the catalog's
  families to the Pushgateway (group ``job="pilotzone", pipeline=<name>``, replaced by each
  push) at most every ``push_interval_s`` and once more when the pipeline drains. Its input is
  per-window summaries and incidents, not samples, so one key is no bottleneck. With fences it
  also gathers what fence judging observed (``zones.fences.figures``) for the fence families.

A drain (Dataflow ``drain``, Flink ``stop --drain``, or the folder source reaching
``stop_at``) moves the watermark to the end of time: every vehicle's end timer then flushes
its pending samples and open incidents, and the collector pushes the final figures.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils.timestamp import Timestamp

from pilotzone.pipelines.jobs.latest import incident_progress, summary_key, summary_progress
from pilotzone.pipelines.jobs.replay import (
    dead_letter_sort_key,
    incident_sort_key,
    sorted_jsonl,
    summary_sort_key,
)
from pilotzone.pipelines.jobs.report import summary_to_json
from pilotzone.pipelines.metrics.export import (
    PipelineFigures,
    SnapshotCollector,
    parse_rfc3339_ms,
    pipeline_families,
    push,
    registry_of,
    write_openmetrics,
)
from pilotzone.pipelines.transforms.aggregate import MergeSummariesContinuously
from pilotzone.pipelines.transforms.compliance import EvaluateStream
from pilotzone.pipelines.transforms.fences import StreamFences
from pilotzone.pipelines.transforms.inputs import pattern_variants
from pilotzone.pipelines.transforms.streaming import StreamSettings
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import IncidentRecord
from pilotzone.zones.fences import Fence
from pilotzone.zones.fences.enforcement import enforcement_sort_key
from pilotzone.zones.fences.figures import FenceFigures

LOG = logging.getLogger("pilotzone.stream")

SOURCES = ("folder", "kafka", "pubsub")


@dataclass(frozen=True)
class SourceOptions:
    """Which source feeds the pipeline, and how to reach it."""

    kind: str
    watch: str | None = None
    poll_s: float = 10.0
    stop_at_s: float | None = None
    """Folder source: stop watching at this Unix time (then the pipeline drains and ends)."""
    kafka_bootstrap: str | None = None
    kafka_topic: str | None = None
    kafka_group: str = "pilotzone"
    kafka_commit_with_checkpoints: bool = True
    """Commit consumed offsets when the runner finalizes a checkpoint (Flink, Dataflow): a
    restart resumes exactly after what was processed. Prism cannot run that commit step (it
    needs stable input); there the consumer commits on its own every few seconds, so a restart
    may re-read the last seconds, whose duplicates the evaluator drops."""
    kafka_expansion_service: str | None = None
    """A running Java expansion service (HOST:PORT); ``pilotzone stream`` starts one from the engine cache."""
    pubsub_subscription: str | None = None

    def problems(self) -> list[str]:
        """What is missing for this source, each naming the option that fixes it."""
        needs = {
            "folder": [("watch", "--watch GLOB")],
            "kafka": [
                ("kafka_bootstrap", "--kafka-bootstrap HOST:PORT"),
                ("kafka_topic", "--kafka-topic TOPIC"),
            ],
            "pubsub": [("pubsub_subscription", "--pubsub-subscription projects/P/subscriptions/S")],
        }
        if self.kind not in needs:
            return [f"unknown source {self.kind!r}: choose one of {', '.join(SOURCES)}"]
        return [
            f"--source {self.kind} needs {flag}" for name, flag in needs[self.kind] if not getattr(self, name)
        ]


def kafka_consumer_config(options: SourceOptions) -> dict[str, str]:
    """Consumer settings: a group, so restarts resume where they stopped; earliest for a new group."""
    assert options.kafka_bootstrap is not None
    config = {
        "bootstrap.servers": options.kafka_bootstrap,
        "group.id": options.kafka_group,
        "auto.offset.reset": "earliest",
    }
    if not options.kafka_commit_with_checkpoints:
        config["enable.auto.commit"] = "true"
    return config


def kafka_source(options: SourceOptions) -> beam.PTransform:
    """Beam's ``ReadFromKafka`` for the options (the Java expansion service runs at apply time)."""
    from apache_beam.io.kafka import ReadFromKafka

    return ReadFromKafka(
        consumer_config=kafka_consumer_config(options),
        topics=[options.kafka_topic],
        timestamp_policy=ReadFromKafka.create_time_policy,
        commit_offset_in_finalize=options.kafka_commit_with_checkpoints,
        expansion_service=options.kafka_expansion_service,
    )


class ReadPayloads(beam.PTransform):
    """The chosen source → ``(source, bytes)`` pairs, the input of ``DecodeTelemetry``."""

    def __init__(self, options: SourceOptions) -> None:
        super().__init__()
        problems = options.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.options = options

    def expand(self, begin: beam.pvalue.PBegin) -> beam.PCollection:
        options = self.options
        if options.kind == "folder":
            assert options.watch is not None
            stop = Timestamp.of(options.stop_at_s) if options.stop_at_s is not None else None
            # The glob as a user means it ('**/' matching no folder too): one watch per variant
            # (variants of one '**/' never match the same file).
            watched = [
                begin
                | ("Watch" if index == 0 else f"Watch{index}")
                >> fileio.MatchContinuously(
                    variant,
                    interval=options.poll_s,
                    **({"stop_timestamp": stop} if stop is not None else {}),
                )
                for index, variant in enumerate(pattern_variants(options.watch))
            ]
            matched = watched[0] if len(watched) == 1 else tuple(watched) | "AllWatched" >> beam.Flatten()
            return (
                matched
                | "Open" >> fileio.ReadMatches()
                | "Read" >> beam.Map(lambda readable: (readable.metadata.path, readable.read()))
            )
        if options.kind == "kafka":
            name = f"kafka://{options.kafka_topic}"
            # A tombstone (null value) becomes an empty payload, which decodes to a dead letter.
            return (
                begin
                | "Kafka" >> kafka_source(options)
                | "Payload" >> beam.Map(lambda kv: (name, kv[1] or b"")).with_output_types(tuple[str, bytes])
            )
        name = f"pubsub://{options.pubsub_subscription}"
        return (
            begin
            | "PubSub" >> beam.io.ReadFromPubSub(subscription=options.pubsub_subscription)
            | "Payload" >> beam.Map(lambda data: (name, data))
        )


def lifecycle_json(record: IncidentRecord) -> dict[str, Any]:
    """A lifecycle record in the stream's JSON form: the incident log's keys plus ``status``."""
    return {"status": record.status, **record.to_json()}


def lifecycle_sort_key(row: dict[str, Any]) -> tuple[str, str, int]:
    """Within a file: by start time and id, then in lifecycle order."""
    return (*incident_sort_key(row), incident_progress(row))


class WriteRowsAsTheyCome(beam.PTransform):
    """Rows → JSON Lines files under ``folder``, written when each bundle of rows is done.

    Rows are written as the runner hands them over, with no event-time window in between: a
    window would hold rows until the watermark passes its end and then drop what arrives
    behind it, and a lifecycle record (a CLOSED after a long incident, a dead letter of a late
    upload) is routinely behind the watermark. Each bundle becomes one file named
    ``<prefix>-<UTC minute written>-<run id>-<bundle>.jsonl``, its rows sorted, written under
    a temporary name and renamed, so a reader never sees half a file; names carry the run id,
    so a restarted monitor writes new files and never overwrites an earlier run's.
    """

    def __init__(self, folder: str, prefix: str, sort_key: Any, run_id: str) -> None:
        super().__init__()
        self.folder, self.prefix, self.sort_key, self.run_id = folder, prefix, sort_key, run_id

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | "WriteBundles" >> beam.ParDo(
            WriteBundleFn(self.folder, self.prefix, self.sort_key, self.run_id)
        )


def ensure_folder(folder: str) -> None:
    """Create ``folder`` unless it exists. Several workers of one step set up at once (Prism
    runs a step's bundles on several threads), and Beam's ``mkdirs`` refuses a folder that
    exists, so one that another worker made in between counts as made."""
    if FileSystems.exists(folder):
        return
    try:
        FileSystems.mkdirs(folder)
    except OSError:
        if not FileSystems.exists(folder):
            raise


class WriteBundleFn(beam.DoFn):
    """One sorted JSON Lines file per bundle of rows (see ``WriteRowsAsTheyCome``)."""

    def __init__(self, folder: str, prefix: str, sort_key: Any, run_id: str) -> None:
        self.folder, self.prefix, self.sort_key, self.run_id = folder, prefix, sort_key, run_id
        self.rows: list[dict[str, Any]] = []
        self.written = 0

    def setup(self) -> None:
        # Bundles of one worker are numbered; the random part tells workers of one run apart.
        self.worker = uuid.uuid4().hex[:8]
        ensure_folder(self.folder)

    def start_bundle(self) -> None:
        self.rows = []

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        self.rows.append(row)
        return iter(())

    def finish_bundle(self) -> None:
        if not self.rows:
            return
        minute = time.strftime("%Y%m%dT%H%MZ", time.gmtime())
        self.written += 1
        name = f"{self.prefix}-{minute}-{self.run_id}-{self.worker}-{self.written:06d}.jsonl"
        final = FileSystems.join(self.folder, name)
        partial = FileSystems.join(self.folder, "." + name + ".partial")
        with FileSystems.create(partial) as handle:
            handle.write(sorted_jsonl(self.rows, self.sort_key).encode("utf-8"))
        FileSystems.rename([partial], [final])
        self.rows = []


@dataclass(frozen=True)
class StreamSinks:
    """Where the stream's outputs go."""

    incidents_dir: str
    incidents_topic: str | None = None
    kafka_bootstrap: str | None = None
    kafka_expansion_service: str | None = None
    """The Java expansion service that builds ``WriteToKafka`` (the source's, when both use Kafka)."""
    pushgateway: str | None = None
    metrics_file: str | None = None
    """OpenMetrics text rewritten at every push (the CLI's endpoint serves it while the stream runs)."""
    pipeline_name: str = "stream"
    push_interval_s: float = 15.0
    run_id: str = "run"
    """Names this run's output files, so a restart never overwrites an earlier run's."""
    register: str | None = None
    """Incident register URL to upsert every lifecycle record into as it comes."""


def build_stream(
    pipeline: beam.Pipeline,
    source: beam.PTransform,
    zones: Sequence[Zone],
    settings: StreamSettings,
    sinks: StreamSinks,
    *,
    fences: StreamFences | None = None,
) -> None:
    """Wire the unbounded pipeline: source, ``EvaluateStream`` (with the emergency fences of a
    watched folder, if given), streaming sinks."""
    payloads = pipeline | "ReadPayloads" >> source
    evaluated = payloads | "Evaluate" >> EvaluateStream(zones, settings, fences)
    dead = evaluated.dead_letters
    lifecycle = evaluated.incidents | "LifecycleJson" >> beam.Map(lifecycle_json)
    if sinks.register is not None:
        from pilotzone.pipelines.register.sink import WriteToRegister

        _ = evaluated.incidents | "WriteRegister" >> WriteToRegister(sinks.register)
    base = sinks.incidents_dir.rstrip("/")
    _ = lifecycle | "WriteIncidents" >> WriteRowsAsTheyCome(
        f"{base}/incidents", "incidents", lifecycle_sort_key, sinks.run_id
    )
    _ = dead | "WriteDeadLetters" >> WriteRowsAsTheyCome(
        f"{base}/dead-letters", "dead-letters", dead_letter_sort_key, sinks.run_id
    )
    if evaluated.fence_enforcement is not None:
        _ = evaluated.fence_enforcement | "WriteFenceEnforcement" >> WriteRowsAsTheyCome(
            f"{base}/fence-enforcement", "fence-enforcement", enforcement_sort_key, sinks.run_id
        )
    summaries = evaluated.summaries | "MergeSummaries" >> MergeSummariesContinuously()
    summary_rows = summaries | "SummaryJson" >> beam.Map(summary_to_json, window_s=settings.window_s)
    _ = summary_rows | "WriteSummaries" >> WriteRowsAsTheyCome(
        f"{base}/summaries", "summaries", summary_sort_key, sinks.run_id
    )
    if sinks.incidents_topic:
        from apache_beam.io.kafka import WriteToKafka

        _ = (
            lifecycle
            | "KafkaRecord"
            >> beam.Map(
                lambda row: (row["incident_id"].encode(), json.dumps(row).encode())
            ).with_output_types(tuple[bytes, bytes])
            | "WriteIncidentsToKafka"
            >> WriteToKafka(
                producer_config={"bootstrap.servers": sinks.kafka_bootstrap},
                topic=sinks.incidents_topic,
                expansion_service=sinks.kafka_expansion_service,
            )
        )
    if sinks.pushgateway or sinks.metrics_file:
        inputs = [
            summary_rows | "TagSummaries" >> beam.Map(lambda row: ("summary", row)),
            lifecycle | "TagIncidents" >> beam.Map(lambda row: ("incident", row)),
            dead | "TagDeadLetters" >> beam.Map(lambda row: ("dead_letter", row)),
        ]
        if evaluated.fence_observations is not None:
            observed = evaluated.fence_observations | "TagFences" >> beam.Map(lambda seen: ("fence", seen))
            inputs.append(observed)
        fenced = None if fences is None else tuple(fences.fences)
        _ = (
            tuple(inputs)
            | "MetricsInputs" >> beam.Flatten()
            | "OneCollector" >> beam.WindowInto(GlobalWindows())
            | "ToCollector" >> beam.Map(lambda update: ("pilotzone", update))
            | "PublishMetrics" >> beam.ParDo(PublishMetricsFn(zones, sinks, fenced))
        )


@dataclass
class _CollectorState:
    """What the collector knows: latest rows by key, dead letters by reason, and what fence
    judging observed (None when the stream judges no fences)."""

    summaries: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    pushed_at: float = 0.0
    fences: FenceFigures | None = None

    def add(self, kind: str, row: Any) -> None:
        if kind == "fence":
            if self.fences is not None:
                self.fences.add(row)
        elif kind == "summary":
            key = summary_key(row)
            known_summary = self.summaries.get(key)
            if known_summary is None or summary_progress(row) >= summary_progress(known_summary):
                self.summaries[key] = row
        elif kind == "incident":
            known = self.incidents.get(row["incident_id"])
            if known is None or incident_progress(row) >= incident_progress(known):
                self.incidents[row["incident_id"]] = row
        else:
            self.dead_letters[row["reason"]] = self.dead_letters.get(row["reason"], 0) + row["records"]

    def figures(self) -> PipelineFigures:
        samples = sum(row["samples"] for row in self.summaries.values())
        totals = {f"dead_letters_{reason}": n for reason, n in self.dead_letters.items()}
        totals["records_read"] = samples + sum(self.dead_letters.values())
        ends = [row["window_end"] for row in self.summaries.values() if row["samples"]]
        if ends:
            # The collector sees windows, not samples: the end of the latest window with data
            # stands in for the latest event time evaluated (the watermark gauge).
            totals["event_time_ms_max"] = parse_rfc3339_ms(max(ends))
        return PipelineFigures(
            list(self.summaries.values()), list(self.incidents.values()), totals, self.fences
        )


class PublishMetricsFn(beam.DoFn):
    """The single collector of a stream: keeps the figures, publishes at most every ``push_interval_s``.

    Publishing replaces the Pushgateway group and rewrites the metrics file, whichever are set.

    Pushes ride on arriving updates (summaries arrive every window while vehicles drive)
    rather than on a processing-time timer, which not every runner fires for a draining
    pipeline; the end-of-window timer pushes the final figures when the pipeline drains.
    """

    STATE = ReadModifyWriteStateSpec("figures", PickleCoder())
    FINAL = TimerSpec("final", TimeDomain.WATERMARK)

    def __init__(
        self, zones: Sequence[Zone], sinks: StreamSinks, fences: Sequence[Fence] | None = None
    ) -> None:
        self.zones = list(zones)
        self.sinks = sinks
        self.fences = None if fences is None else tuple(fences)

    def process(
        self,
        element: tuple[str, tuple[str, Any]],
        state: Any = beam.DoFn.StateParam(STATE),
        final: Any = beam.DoFn.TimerParam(FINAL),
    ) -> Iterator[Any]:
        figures: _CollectorState = state.read() or _CollectorState(
            fences=None if self.fences is None else FenceFigures.of(self.fences)
        )
        kind, row = element[1]
        figures.add(kind, row)
        now = time.time()
        if now - figures.pushed_at >= self.sinks.push_interval_s and self._push(figures, running=True):
            figures.pushed_at = now
        state.write(figures)
        final.set(GlobalWindow().max_timestamp())
        return iter(())

    @on_timer(FINAL)
    def on_final(self, state: Any = beam.DoFn.StateParam(STATE)) -> Iterator[Any]:
        figures = state.read()
        if figures is not None:
            self._push(figures, running=False)
        return iter(())

    def _push(self, figures: _CollectorState, *, running: bool) -> bool:
        """Write the metrics file and replace the Pushgateway group; False (and a warning) on failure."""
        families = pipeline_families(self.zones, figures.figures(), time.time(), running=running)
        registry = registry_of(SnapshotCollector(families))
        try:
            if self.sinks.metrics_file:
                write_openmetrics(registry, Path(self.sinks.metrics_file))
            if self.sinks.pushgateway:
                push(registry, self.sinks.pushgateway, self.sinks.pipeline_name)
        except OSError as exc:  # the next update retries; the figures stay in state
            LOG.warning(
                "could not publish metrics (%s): %s", self.sinks.pushgateway or self.sinks.metrics_file, exc
            )
            return False
        return True
