"""ReplayInMemory and ReplaySpilled on hand-built payloads: the exact incidents, summaries and dead letters.

Two robotaxis of the every-kind zone: ``veh-a`` drives 60 s and goes silent, ``veh-b`` drives
120 s, speeds (80 km/h, limit 50 + 5) from 20 s to 39 s and sends one fix with a NaN speed.
The input's end also looks like silence for ``veh-b``; only ``veh-a``'s gap was observed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.transforms.compliance import (
    InMemoryReplaySettings,
    ReplayInMemory,
    ReplaySpilled,
    SpilledReplaySettings,
)
from pilotzone.pipelines.transforms.spill import SpillPlan
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import IncidentRecord, WindowSummary
from tests.factories import T0_MS, container_bytes, track

RUNNER = "FnApiRunner"


def payloads() -> list[tuple[str, bytes]]:
    silent = track(60, vehicle_id="veh-a", operator_id="op-taxi")
    speeding = track(120, vehicle_id="veh-b", operator_id="op-taxi")
    for second in range(20, 40):
        speeding[second] = dict(speeding[second], speed=80.0)
    speeding[5] = dict(speeding[5], speed=math.nan)
    return [
        ("a.avro", container_bytes(silent)),
        ("b.avro", container_bytes(speeding)),
        ("junk.avro", b"junk"),
    ]


def incident_row(incident: IncidentRecord) -> tuple[Any, ...]:
    """What identifies a lifecycle record, times in ms after T0."""
    end = None if incident.end_ms is None else incident.end_ms - T0_MS
    return (
        incident.incident_id,
        incident.status,
        incident.vehicle_id,
        incident.rule_id,
        incident.severity,
        incident.start_ms - T0_MS,
        end,
        incident.peak_value,
    )


def summary_row(summary: WindowSummary) -> tuple[Any, ...]:
    """A window summary's counts (distances left out: they are the geometry's business)."""
    return (
        summary.window_start_ms - T0_MS,
        summary.samples,
        sorted(summary.vehicle_ids),
        summary.vehicle_seconds,
        summary.violation_s_by_rule,
        summary.incidents_opened,
    )


# Incident ids are a hash of (zone, rule, vehicle, start): any replay of this input gives these.
EXPECTED_INCIDENTS = [
    ("5dcc5023f1409fd00a46", "OPENED", "veh-a", "gap", "MINOR", 59_000, None, None),
    ("5a8dd5dda8a0d5494cc0", "OPENED", "veh-b", "speed-zone", "MINOR", 20_000, None, 30.0),
    ("5a8dd5dda8a0d5494cc0", "CLOSED", "veh-b", "speed-zone", "MINOR", 20_000, 40_000, 30.0),
]
EXPECTED_SUMMARIES = [
    (
        0,
        119,
        ["veh-a", "veh-b"],
        118.0,
        {"speed-zone": 20.0},
        {("speed_limit", "MINOR"): 1, ("telemetry_gap", "MINOR"): 1},
    ),
    # veh-b's gap opened by the end of input is counted, then taken back out.
    (60_000, 60, ["veh-b"], 60.0, {}, {("telemetry_gap", "MINOR"): 0}),
]
EXPECTED_DEAD_LETTERS = [
    ("b.avro", "nan", 5, "veh-b", "2026-11-23T01:00:05.000Z"),
    ("junk.avro", "not_avro", None, None, None),
]


def replay(mode: str, spill_dir: Path, zones: list[Zone]) -> beam.PTransform:
    if mode == "in-memory":
        return ReplayInMemory(zones, InMemoryReplaySettings())
    return ReplaySpilled(zones, SpilledReplaySettings(SpillPlan(str(spill_dir), buckets=2)))


@pytest.mark.parametrize("mode", ["in-memory", "spilled"])
def test_replay_gives_exact_incidents_summaries_and_dead_letters(
    mode: str, tmp_path: Path, every_kind_zones: list[Zone]
) -> None:
    with TestPipeline(runner=RUNNER) as pipeline:
        results = pipeline | beam.Create(payloads()) | replay(mode, tmp_path, every_kind_zones)
        assert_that(
            results.incidents | "IncidentRows" >> beam.Map(incident_row),
            equal_to(EXPECTED_INCIDENTS),
            label="incidents",
        )
        assert_that(
            results.summaries | "SummaryRows" >> beam.Map(summary_row),
            equal_to(EXPECTED_SUMMARIES),
            label="summaries",
        )
        assert_that(
            results.dead_letters
            | "DeadLetterRows"
            >> beam.Map(lambda d: (d["source"], d["reason"], d["record"], d["vehicle_id"], d["event_time"])),
            equal_to(EXPECTED_DEAD_LETTERS),
            label="dead letters",
        )
