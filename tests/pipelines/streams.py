"""Running the compliance pipeline as a stream over ``TestStream`` events, for tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.utils.timestamp import Duration

from pilotzone.pipelines.jobs.replay import ReplayOutputs, write_outputs
from pilotzone.pipelines.transforms.compliance import ReplayAsStream
from pilotzone.pipelines.transforms.emit import END_OF_INPUT
from pilotzone.pipelines.transforms.streaming import StreamSettings
from pilotzone.zones import Zone


@dataclass(frozen=True)
class Upload:
    """One payload arriving in the stream, stamped with its event time (ms)."""

    name: str
    data: bytes
    time_ms: int


@dataclass(frozen=True)
class Watermark:
    """The watermark moving to an event time (ms)."""

    time_ms: int


def outputs_in(folder: Path) -> ReplayOutputs:
    """Incident log, summaries and dead letters written into ``folder``."""
    return ReplayOutputs(
        incidents_jsonl=folder / "incidents.jsonl",
        dead_letter_jsonl=folder / "dead-letters.jsonl",
        summaries_jsonl=folder / "summaries.jsonl",
    )


def run_stream(
    zones: Sequence[Zone],
    events: Sequence[Upload | Watermark],
    out: Path,
    lateness_s: float,
    *,
    shards: int = StreamSettings.shards,
    tick_s: float = StreamSettings.tick_s,
) -> None:
    """The streaming path over ``events`` in order, writing the usual files into ``out``."""
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    stream = TestStream()
    watermark: int | None = None
    for event in events:
        if isinstance(event, Upload):
            stream = stream.add_elements(
                [beam.window.TimestampedValue((event.name, event.data), event.time_ms / 1000)]
            )
        elif watermark is None or event.time_ms > watermark:
            stream = stream.advance_watermark_to(event.time_ms / 1000)
            watermark = event.time_ms
    # The BundleBasedDirectRunner does not hold the watermark for pending timers, so what
    # timers emit during the final jump to infinity would miss the whole-input aggregations.
    # Stepping to just past the evaluator's end-of-input timer first lets them fire in time,
    # as a draining production runner (which does hold watermarks) does by itself.
    stream = stream.advance_watermark_to(END_OF_INPUT + Duration(seconds=1))
    stream = stream.advance_watermark_to_infinity()
    settings = StreamSettings(allowed_lateness_s=lateness_s, shards=shards, tick_s=tick_s)
    with TestPipeline(runner="BundleBasedDirectRunner", options=options) as pipeline:
        results = pipeline | stream | ReplayAsStream(zones, settings)
        write_outputs(results, outputs_in(out), settings.window_s)
