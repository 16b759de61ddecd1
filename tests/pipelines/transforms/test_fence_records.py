"""A fence topic's records in a pipeline: a good document becomes its fence, a refused one and a
tombstone are logged and counted (``fences_refused``) and never stop the pipeline."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.cli.fences import published_document
from pilotzone.pipelines.transforms.fences import read_fence_record
from pilotzone.zones.fences.loader import load_fence
from tests.zones.fences.fence_files import write_fence

pytestmark = [pytest.mark.fences, pytest.mark.slow]


def test_refused_records_and_tombstones_are_counted_and_the_good_fence_passes(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))
    good = (f"fire-1@{fence.digest}".encode(), published_document(fence))
    bad = (b"fire-2@x", write_fence(tmp_path, "bad.yaml", vehicle_classes=["HOVERCRAFT"]).read_bytes())
    tombstone = (b"fire-3@y", None)
    pipeline = beam.Pipeline(runner="FnApiRunner", options=PipelineOptions())
    digests = (
        pipeline
        | beam.Create([good, bad, tombstone])
        | beam.FlatMap(lambda record: read_fence_record("fences", record))
        | beam.Map(lambda received: received.digest)
    )
    assert_that(digests, equal_to([fence.digest]))
    result = pipeline.run()
    result.wait_until_finish()
    refused = result.metrics().query(MetricsFilter().with_name("fences_refused"))["counters"]
    assert [counter.committed for counter in refused] == [2]


def test_a_refused_record_is_logged_with_where_it_came_from(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = write_fence(tmp_path, "bad.yaml", vehicle_classes=["HOVERCRAFT"]).read_bytes()
    assert list(read_fence_record("fences", (b"fire-2@x", bad))) == []
    assert list(read_fence_record("fences", (b"fire-3@y", None))) == []
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith(
        "fence topic fences key fire-2@x refused, not enforced:\ntopic fences key fire-2@x:"
    )
    assert messages[1] == (
        "fence topic fences key fire-3@y refused, not enforced:\n"
        "a tombstone (no document): a fence is lifted by a version with an until"
    )
    assert len(messages) == 2
