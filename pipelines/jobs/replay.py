"""The replay job: stored Avro telemetry in, incident log, summaries and dead letters out.

``build_pipeline`` wires the transforms of ``pilotzone.pipelines.transforms.compliance`` between the file
sources and sinks; ``run_replay`` runs it on a runner named explicitly. The Beam
DirectRunner picks an engine on its own (Prism when it can download it, else the FnApiRunner
for batch), so a replay that must behave the same on every machine names the FnApiRunner.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import FileMetadata
from apache_beam.options.pipeline_options import PipelineOptions

from pilotzone.pipelines.atomic import write_text_atomically
from pilotzone.pipelines.jobs.latest import summary_key
from pilotzone.pipelines.jobs.report import summary_to_json
from pilotzone.pipelines.jobs.runners import REPLAY_RUNNERS, RUNNERS
from pilotzone.pipelines.transforms.aggregate import FinalIncidentStates
from pilotzone.pipelines.transforms.buckets import ReplayGroupsInMemory, ReplayGroupsSpilled
from pilotzone.pipelines.transforms.compliance import ComplianceResults
from pilotzone.pipelines.transforms.handoff import InProcessHandoff, runs_in_this_process
from pilotzone.pipelines.transforms.inputs import InputPatternError, match_inputs
from pilotzone.pipelines.transforms.read_many import ReadTelemetryGroups
from pilotzone.pipelines.transforms.spill import SpillPlan
from pilotzone.schemas.contract import incident_schema
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import IncidentRecord
from pilotzone.zones.fences import Fence
from pilotzone.zones.fences.figures import observation_sort_key, observation_to_json

LOG = logging.getLogger("pilotzone.replay")


@dataclass(frozen=True)
class ReplayOutputs:
    """Where a replay writes; ``None`` means that output is not written."""

    incidents_jsonl: Path
    incidents_avro: Path | None = None
    dead_letter_jsonl: Path | None = None
    summaries_jsonl: Path | None = None
    input_digests: Path | None = None
    """A folder for the size and SHA-256 of every input file read (``RecordInputDigestsFn``),
    for the run manifest; the caller creates it, reads it and removes it."""

    def files(self) -> list[Path]:
        """The output files this replay writes (what a run manifest lists)."""
        candidates = [self.incidents_jsonl, self.incidents_avro, self.dead_letter_jsonl, self.summaries_jsonl]
        return [path for path in candidates if path is not None]

    register: str | None = None
    """Incident register URL (``sqlite:///FILE`` or ``postgresql://...``) to upsert every
    incident's final state into."""
    fence_observations: Path | None = None
    """A JSON Lines file for what fence judging observed (``zones.fences.figures``), for the
    fence metrics; the caller reads it and removes it. Written only when fences are judged."""


@dataclass(frozen=True)
class ReplaySettings:
    """How a replay evaluates (summary window), groups (in memory or spilled) and runs.

    A replay judges no lateness: its input is whole before evaluation starts.
    """

    window_s: int = 60
    runner: str = "direct"
    workers: int = 1
    progress: bool = True
    extra_options: tuple[str, ...] = ()
    spill_buckets: int | None = None
    """Group by vehicle on disk in this many buckets (see ``pilotzone.pipelines.transforms.spill``); ``None``
    decides from the input's size (in memory up to ``SPILL_INPUT_BYTES``, then one bucket per
    ``SPILL_BUCKET_INPUT_BYTES`` and worker), and 0 or 1 groups in memory."""
    spill_dir: str | None = None
    """Where the spill directory is created (the system's temporary folder if ``None``)."""
    fences: tuple[Fence, ...] = ()
    """Emergency fences judged alongside the zones (``zones.fences``), each by its dates."""


SPILL_INPUT_BYTES = 128 * 1024 * 1024
"""Above this much stored telemetry a replay groups by vehicle on disk rather than in memory."""

SPILL_BUCKET_INPUT_BYTES = 32 * 1024 * 1024
"""Stored telemetry per spill bucket and worker process.

A bucket is evaluated whole, at about 400 bytes of memory per sample (its spilled frames,
the joined and the sorted columns, zones), and stored bytes per sample depend on the layout:
~130 for minute uploads, ~34 for compacted parts. 32 MiB is ~250k samples of uploads and ~1M
of compacted parts, at most ~400 MB per process. (At 128 MiB, 36M compacted samples made 10
buckets of 3.6M samples and 1.5 GB per worker.)"""


def sorted_jsonl(rows: list[dict[str, Any]], key: Any) -> str:
    """One JSON Lines text, sorted, so that the same input always gives the same file."""
    return "".join(
        json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n" for row in sorted(rows, key=key)
    )


class WriteSortedJsonl(beam.PTransform):
    """Write a (small) PCollection of dicts as one sorted JSON Lines file.

    Incident logs and summaries are small next to the telemetry (thousands of lines), and a
    regulator diffing two replays needs byte-identical files; so all rows meet in one place
    and are sorted there, rather than written by shards in arrival order.
    """

    def __init__(self, path: Path, sort_key: Any) -> None:
        super().__init__()
        self.path = path
        self.sort_key = sort_key

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        path, sort_key = self.path, self.sort_key
        gather = beam.CombineGlobally(beam.combiners.ToListCombineFn())
        if not rows.is_bounded:
            # A stream gathers per firing; an empty stream then writes no file rather than an
            # empty one, which is all Beam allows for unbounded input.
            gather = gather.without_defaults()
        return (
            rows
            | "Gather" >> gather
            | "Write" >> beam.Map(lambda all_rows: _write_text(path, sorted_jsonl(all_rows, sort_key)))
        )


class WriteSortedJsonlFiles(beam.PTransform):
    """Several (small) bounded PCollections of dicts, each as one sorted JSON Lines file, in one step.

    ``WriteSortedJsonl`` gathers each output on its own: a GroupByKey and a second step for
    the default (an empty input still writes its empty file), two stages the runner sets up
    and runs per file. Tagging the rows with their file and gathering them all at once
    writes the same files, empty ones included, in two stages however many files there are.
    """

    def __init__(self, files: Sequence[tuple[Path, Any]]) -> None:
        super().__init__()
        self.files = list(files)
        """(path, sort key) of each input, in input order."""

    def expand(self, rows: tuple[beam.PCollection, ...]) -> beam.PCollection:
        files = self.files
        tagged = [pcoll | f"Tag{index}" >> beam.Map(_tagged, index) for index, pcoll in enumerate(rows)]
        return (
            tagged
            | "AllRows" >> beam.Flatten()
            | "Gather" >> beam.CombineGlobally(beam.combiners.ToListCombineFn())
            | "Write" >> beam.FlatMap(lambda all_rows: _write_each(files, all_rows))
        )


def _tagged(row: dict[str, Any], index: int) -> tuple[int, dict[str, Any]]:
    return index, row


def _write_each(files: Sequence[tuple[Path, Any]], tagged: list[tuple[int, dict[str, Any]]]) -> list[int]:
    """Write every file (sorted; empty if it has no rows); the number of lines of each."""
    rows: list[list[dict[str, Any]]] = [[] for _ in files]
    for index, row in tagged:
        rows[index].append(row)
    return [
        _write_text(path, sorted_jsonl(of_file, key))
        for (path, key), of_file in zip(files, rows, strict=True)
    ]


def _write_text(path: Path, text: str) -> int:
    write_text_atomically(path, text)
    return text.count("\n")


def incident_sort_key(row: dict[str, Any]) -> tuple[str, str]:
    """Incidents in the log: by start time, then id (ids are unique)."""
    return (row["start_time"], row["incident_id"])


def summary_sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Summaries: by window, zone, config version, operator and class."""
    return summary_key(row)


def dead_letter_sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Dead letters: by source, offset and record."""
    return (row["source"], row["offset"], row["record"] if row["record"] is not None else -1, row["reason"])


def build_pipeline(
    pipeline: beam.Pipeline,
    zones: Sequence[Zone],
    input_pattern: str,
    outputs: ReplayOutputs,
    settings: ReplaySettings,
    *,
    spill: SpillPlan | None = None,
    handoff: InProcessHandoff | None = None,
) -> None:
    """Wire the replay into ``pipeline``: read, decode, evaluate, summarise and write.

    Files are read and decoded many at a time (``read_many``) and evaluated by vehicle bucket
    (``buckets``), so Beam handles a few large elements rather than one per upload. The digests
    of the bytes decoded go to ``outputs.input_digests`` for the run manifest. ``handoff``:
    keep the decoded chunks in this process on their way to the evaluation (``handoff``; only
    for a runner whose workers are this process; in-memory grouping only).
    """
    digests = None if outputs.input_digests is None else str(outputs.input_digests)
    groups = pipeline | "ReadTelemetry" >> ReadTelemetryGroups(input_pattern)
    fences = settings.fences
    mode = (
        ReplayGroupsInMemory(
            zones,
            settings.window_s,
            progress=settings.progress,
            digests=digests,
            fences=fences,
            handoff=handoff,
        )
        if spill is None
        else ReplayGroupsSpilled(
            zones, settings.window_s, spill, progress=settings.progress, digests=digests, fences=fences
        )
    )
    results = groups | "Evaluate" >> mode
    write_outputs(results, outputs, settings.window_s)


def write_outputs(results: ComplianceResults, outputs: ReplayOutputs, window_s: int) -> None:
    """The sinks: incident log (JSON Lines, optionally Avro and the register), summaries and
    dead letters."""
    final = results.incidents | "FinalStates" >> FinalIncidentStates()
    jsonl: list[tuple[str, beam.PCollection, Path, Any]] = [
        (
            "WriteIncidents",
            final | "IncidentJson" >> beam.Map(IncidentRecord.to_json),
            outputs.incidents_jsonl,
            incident_sort_key,
        )
    ]
    if outputs.register is not None:
        from pilotzone.pipelines.register.sink import WriteToRegister

        _ = final | "WriteRegister" >> WriteToRegister(outputs.register)
    if outputs.incidents_avro is not None:
        (
            results.incidents
            | "IncidentAvro" >> beam.Map(IncidentRecord.to_avro)
            | "WriteIncidentsAvro"
            >> beam.io.WriteToAvro(
                str(outputs.incidents_avro), schema=incident_schema(), num_shards=1, shard_name_template=""
            )
        )
    if outputs.summaries_jsonl is not None:
        summaries = results.summaries | "SummaryJson" >> beam.Map(summary_to_json, window_s=window_s)
        jsonl.append(("WriteSummaries", summaries, outputs.summaries_jsonl, summary_sort_key))
    if outputs.dead_letter_jsonl is not None:
        jsonl.append(
            ("WriteDeadLetters", results.dead_letters, outputs.dead_letter_jsonl, dead_letter_sort_key)
        )
    if results.incidents.is_bounded:
        files = [(path, key) for _, _, path, key in jsonl]
        _ = tuple(rows for _, rows, _, _ in jsonl) | "WriteJsonl" >> WriteSortedJsonlFiles(files)
    else:
        for label, rows, path, key in jsonl:
            _ = rows | label >> WriteSortedJsonl(path, key)
    if outputs.fence_observations is not None and results.fence_observations is not None:
        (
            results.fence_observations
            | "FenceObservationJson" >> beam.Map(observation_to_json)
            | "WriteFenceObservations" >> WriteSortedJsonl(outputs.fence_observations, observation_sort_key)
        )


def pipeline_options(settings: ReplaySettings) -> PipelineOptions:
    """Beam options for the named runner; multi-process mode for ``direct-multiprocess``."""
    if settings.runner not in REPLAY_RUNNERS:
        raise ValueError(f"unknown runner {settings.runner!r}: choose one of {', '.join(REPLAY_RUNNERS)}")
    args = [f"--runner={RUNNERS[settings.runner]}"]
    if settings.runner == "direct-multiprocess":
        args += ["--direct_running_mode=multi_processing", f"--direct_num_workers={settings.workers}"]
    return PipelineOptions(args + list(settings.extra_options))


def run_replay(
    zones: Sequence[Zone],
    input_pattern: str,
    outputs: ReplayOutputs,
    settings: ReplaySettings,
    matched: Sequence[FileMetadata] | None = None,
) -> dict[str, int]:
    """Run a replay to completion; returns the pipeline's counters (records read, decoded ...).

    Above ``SPILL_BUCKET_INPUT_BYTES`` of input (or as ``settings.spill_buckets`` says), the
    vehicles are grouped on disk in a temporary directory (``pilotzone.pipelines.transforms.spill``), so memory
    stays bounded whatever the input's size; the outputs are the same either way. An input
    pattern that matches nothing raises ``InputPatternError`` before any pipeline is built
    (``matched``: the pattern's files, when the caller has matched them already).
    """
    buckets = spill_buckets(
        input_pattern, settings, match_inputs(input_pattern) if matched is None else matched
    )
    if buckets <= 1:
        return _run(zones, input_pattern, outputs, settings, None)
    with tempfile.TemporaryDirectory(prefix="pilotzone-spill-", dir=settings.spill_dir) as directory:
        LOG.info("grouping vehicles on disk in %d buckets under %s", buckets, directory)
        return _run(zones, input_pattern, outputs, settings, SpillPlan(directory, buckets))


def _run(
    zones: Sequence[Zone],
    input_pattern: str,
    outputs: ReplayOutputs,
    settings: ReplaySettings,
    spill: SpillPlan | None,
) -> dict[str, int]:
    options = pipeline_options(settings)
    pipeline = beam.Pipeline(options=options)
    handoff = InProcessHandoff() if spill is None and runs_in_this_process(options) else None
    build_pipeline(pipeline, zones, input_pattern, outputs, settings, spill=spill, handoff=handoff)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        if handoff is not None:
            handoff.discard()
    return runner_totals(result.metrics().query())


def spill_buckets(
    input_pattern: str, settings: ReplaySettings, matched: Sequence[FileMetadata] | None = None
) -> int:
    """How many on-disk buckets a replay groups in: as set; 1 (in memory) up to
    ``SPILL_INPUT_BYTES`` of input; beyond, one per ``SPILL_BUCKET_INPUT_BYTES`` and worker.

    Only the in-process runners hold a GroupByKey in memory; the size is the stored (usually
    compressed) bytes, a proxy for the samples the grouping would hold. Each worker process
    of ``direct-multiprocess`` evaluates a bucket at a time, all at once, so the buckets are
    that many times smaller and the whole process tree holds what one process would.
    ``matched`` are the pattern's files when the caller has matched them already.
    """
    if settings.spill_buckets is not None:
        return settings.spill_buckets
    if matched is None:
        try:
            matched = match_inputs(input_pattern)
        except InputPatternError:
            return 1  # ``run_replay`` reports what is wrong with the pattern
    files = matched
    total = sum(metadata.size_in_bytes for metadata in files)
    if total <= SPILL_INPUT_BYTES:
        return 1
    workers = settings.workers if settings.runner == "direct-multiprocess" else 1
    return math.ceil(total / SPILL_BUCKET_INPUT_BYTES) * max(1, workers)


def runner_totals(query: dict[str, Any]) -> dict[str, int]:
    """Counters summed over steps, and each distribution's maximum as ``<name>_max``.

    The runner aggregates these over bundles and workers, which makes them the exact totals
    of a run however it was split (what the metrics exporter publishes).
    """
    totals: dict[str, int] = {}
    for counter in query["counters"]:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(counter.committed or counter.attempted or 0)
    for distribution in query["distributions"]:
        value = distribution.committed or distribution.attempted
        if value is not None and value.count:
            name = f"{distribution.key.metric.name}_max"
            totals[name] = max(totals.get(name, value.max), int(value.max))
    return dict(sorted(totals.items()))
