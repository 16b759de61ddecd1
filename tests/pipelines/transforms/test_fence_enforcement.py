"""The stream's fence judge writes when it received each fence and first judged a fix under it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that
from apache_beam.transforms.window import TimestampedValue

from pilotzone.pipelines.metrics.export import parse_rfc3339_ms
from pilotzone.pipelines.transforms.fences import ENFORCEMENT, FENCE_KEY, JudgeFencesFn, is_fence_file
from pilotzone.zones.fences.judge import Fixes
from pilotzone.zones.fences.loader import load_fence
from tests.zones.fences.fence_files import INSIDE, OUTSIDE, START_MS, write_fence

pytestmark = [pytest.mark.fences, pytest.mark.slow]


def fixes(vehicle: str, vehicle_class: str, seconds: list[int], place: tuple[float, float]) -> Fixes:
    n = len(seconds)
    return Fixes(
        vehicle,
        vehicle_class,
        "op-1",
        np.arange(n, dtype=np.int64),
        np.array([START_MS + s * 1000 for s in seconds], dtype=np.int64),
        np.full(n, place[0]),
        np.full(n, place[1]),
    )


def at(seconds: int, item: Any) -> TimestampedValue:
    return TimestampedValue((FENCE_KEY, item), (START_MS + seconds * 1000) / 1000)


def enforcement_of(events: TestStream, initial: list[Any]) -> tuple[TestPipeline, beam.PCollection]:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = TestPipeline(runner="BundleBasedDirectRunner", options=options)
    outputs = (
        pipeline
        | events
        | beam.ParDo(JudgeFencesFn(allowed_lateness_ms=2000, fences=initial)).with_outputs(
            ENFORCEMENT, main="incidents"
        )
    )
    return pipeline, outputs[ENFORCEMENT]


def matches(expected: list[tuple[Any, ...]], since_s: float) -> Any:
    """Rows equal to ``expected`` but for processing times, which lie between ``since_s`` and now,
    a judgement never before its reception."""

    def check(rows: list[dict[str, Any]]) -> None:
        now_ms = time.time() * 1000
        got = sorted(
            (r["status"], r["fence_id"], r["effective_from"], r["first_fix_time"], r["judged_at"] is None)
            for r in rows
        )
        assert got == sorted(expected)
        for row in rows:
            received = parse_rfc3339_ms(row["received_at"])
            assert since_s * 1000 - 1 <= received <= now_ms + 1
            if row["judged_at"] is not None:
                assert received <= parse_rfc3339_ms(row["judged_at"]) <= now_ms + 1

    return check


def test_a_fence_received_while_running_is_enforced_by_the_first_bound_fix_judged(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))  # ROBOTAXI and SHUTTLE, from START
    events = (
        TestStream()
        .add_elements([at(-20, fence)])
        .advance_watermark_to((START_MS - 15_000) / 1000)
        # A car is not bound: its fixes in force enforce nothing. The robotaxi's fix at -1 s
        # is judged before the fence takes effect; its fix at +5 s is the first under it.
        .add_elements([at(0, fixes("car", "CAR", [0, 1], INSIDE)), at(5, fixes("taxi", "ROBOTAXI", [-1, 5, 6], OUTSIDE))])
        .advance_watermark_to((START_MS + 60_000) / 1000)
        .advance_watermark_to_infinity()
    )  # fmt: skip
    pipeline, enforcement = enforcement_of(events, [])
    since = time.time()
    assert_that(
        enforcement,
        matches(
            [
                ("RECEIVED", "fire-1", "2026-04-01T00:00:00.000Z", None, True),
                ("ENFORCED", "fire-1", "2026-04-01T00:00:00.000Z", "2026-04-01T00:00:05.000Z", False),
            ],
            since,
        ),
    )
    pipeline.run().wait_until_finish()


def test_the_starting_fences_are_received_when_the_judge_first_runs(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))
    later = load_fence(
        write_fence(tmp_path, "fire-2.yaml", id="fire-2", effective_from="2026-04-02T00:00:00Z")
    )
    events = (
        TestStream()
        .add_elements([at(0, fixes("taxi", "ROBOTAXI", [0, 1], INSIDE))])
        .advance_watermark_to((START_MS + 30_000) / 1000)
        .add_elements([at(40, fence)])  # the watch's first poll emits it again: no second record
        .advance_watermark_to_infinity()
    )
    pipeline, enforcement = enforcement_of(events, [fence, later])
    since = time.time()
    assert_that(
        enforcement,
        matches(
            [
                ("RECEIVED", "fire-1", "2026-04-01T00:00:00.000Z", None, True),
                ("RECEIVED", "fire-2", "2026-04-02T00:00:00.000Z", None, True),
                ("ENFORCED", "fire-1", "2026-04-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z", False),
            ],
            since,
        ),
    )
    pipeline.run().wait_until_finish()


def test_the_watch_reads_fence_documents_only() -> None:
    assert [is_fence_file(p) for p in ("/f/fire-1.yaml", "/f/fire-1.yml", "gs://b/f/fire-1.json")] == [
        True
    ] * 3
    assert [is_fence_file(p) for p in ("/f/.fire-1.json.partial", "/f/README.md", "/f/fire-1.json~")] == [
        False
    ] * 3
