"""SummarizeWindows, MergeSummariesContinuously and FinalIncidentStates on hand-built elements."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.transforms.aggregate import (
    FinalIncidentStates,
    MergeSummariesContinuously,
    SummarizeWindows,
)
from pilotzone.zones.evaluate import IncidentRecord, WindowSummary
from tests.factories import T0_MS

RUNNER = "FnApiRunner"


def partial(vehicle: str, window: int = 0, operator: str = "op-taxi", **values: object) -> WindowSummary:
    """One vehicle's partial of a window (``window`` minutes after T0)."""
    return WindowSummary(
        pilot_zone="test-every-kind",
        config_version="sha256:0123456789abcdef",
        operator_id=operator,
        vehicle_class="ROBOTAXI",
        window_start_ms=T0_MS + window * 60_000,
        vehicle_ids=frozenset({vehicle}),
        **values,  # type: ignore[arg-type]
    )


def total(vehicles: set[str], window: int = 0, operator: str = "op-taxi", **values: object) -> WindowSummary:
    return dataclasses.replace(partial("", window, operator, **values), vehicle_ids=frozenset(vehicles))


def test_summarize_windows_merges_partials_by_zone_operator_class_and_window() -> None:
    partials = [
        partial("veh-a", samples=10, vehicle_seconds=9.5, violation_s_by_rule={"speed-zone": 2.25}),
        partial("veh-b", samples=5, vehicle_seconds=4.0, incidents_opened={("speed_limit", "MINOR"): 1}),
        partial("veh-a", samples=3, vehicle_seconds=3.0, violation_s_by_rule={"speed-zone": 0.5}),
        partial("veh-a", window=1, samples=7, vehicle_seconds=6.0),
        partial("veh-c", operator="op-transit", samples=1, disengagements=1),
        # A correction from ConfirmGaps: no vehicle, a negative count.
        dataclasses.replace(
            partial("veh-b", incidents_opened={("speed_limit", "MINOR"): -1}), vehicle_ids=frozenset()
        ),
    ]
    with TestPipeline(runner=RUNNER) as pipeline:
        merged = pipeline | beam.Create(partials) | SummarizeWindows()
        assert_that(
            merged,
            equal_to(
                [
                    total(
                        {"veh-a", "veh-b"},
                        samples=18,
                        vehicle_seconds=16.5,
                        violation_s_by_rule={"speed-zone": 2.75},
                        incidents_opened={("speed_limit", "MINOR"): 0},
                    ),
                    total({"veh-a"}, window=1, samples=7, vehicle_seconds=6.0),
                    total({"veh-c"}, operator="op-transit", samples=1, disengagements=1),
                ]
            ),
        )


def test_merge_summaries_continuously_emits_each_running_total() -> None:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    stream = (
        TestStream()
        .add_elements([partial("veh-a", samples=10)])
        .advance_watermark_to(T0_MS / 1000 + 60)
        .add_elements([partial("veh-a", window=1, samples=4)])
        .advance_watermark_to(T0_MS / 1000 + 600)
        # Long after its window: a late upload still lands in its window's total.
        .add_elements([partial("veh-b", samples=5)])
        .advance_watermark_to_infinity()
    )
    with TestPipeline(runner="BundleBasedDirectRunner", options=options) as pipeline:
        running = pipeline | stream | MergeSummariesContinuously()
        assert_that(
            running | beam.Map(lambda s: (s.window_start_ms - T0_MS, s.samples, sorted(s.vehicle_ids))),
            equal_to([(0, 10, ["veh-a"]), (60_000, 4, ["veh-a"]), (0, 15, ["veh-a", "veh-b"])]),
        )


def test_final_incident_states_keep_the_last_state_of_each_incident() -> None:
    opened = IncidentRecord(
        incident_id="speeding",
        status="OPENED",
        pilot_zone="test-every-kind",
        area=None,
        rule_id="speed-zone",
        kind="speed_limit",
        severity="MINOR",
        vehicle_id="veh-b",
        operator_id="op-taxi",
        start_ms=T0_MS,
        end_ms=None,
        peak_value=20.0,
        latitude=35.17,
        longitude=126.84,
        config_version="v1",
        report_deadline_ms=None,
        explanation="60 km/h",
    )
    higher = dataclasses.replace(opened, status="UPDATED", peak_value=30.0, explanation="80 km/h")
    lower = dataclasses.replace(opened, status="UPDATED", peak_value=25.0, explanation="75 km/h")
    closed = dataclasses.replace(higher, status="CLOSED", end_ms=T0_MS + 20_000)
    still_open = dataclasses.replace(opened, incident_id="gap", rule_id="gap", kind="telemetry_gap")
    with TestPipeline(runner=RUNNER) as pipeline:
        final = pipeline | beam.Create([closed, lower, opened, higher, still_open]) | FinalIncidentStates()
        assert_that(final, equal_to([closed, still_open]))


def test_final_incident_states_keep_the_update_observed_furthest_among_equal_peaks() -> None:
    # An incident still open at the end of input gets an UPDATED record up to its last fix; its
    # peak may equal an earlier update's, and then the later observation is the state to keep
    # (the text "for 9 s" sorts after "for 12 s", so the explanation cannot decide).
    first = IncidentRecord(
        incident_id="speeding",
        status="UPDATED",
        pilot_zone="test-every-kind",
        area=None,
        rule_id="speed-zone",
        kind="speed_limit",
        severity="MINOR",
        vehicle_id="veh-b",
        operator_id="op-taxi",
        start_ms=T0_MS,
        end_ms=None,
        peak_value=30.0,
        latitude=35.17,
        longitude=126.84,
        config_version="v1",
        report_deadline_ms=None,
        explanation="80 km/h for 9 s",
        observed_until_ms=T0_MS + 9_000,
    )
    last = dataclasses.replace(first, explanation="80 km/h for 12 s", observed_until_ms=T0_MS + 12_000)
    with TestPipeline(runner=RUNNER) as pipeline:
        final = (
            pipeline | beam.Create([last, first]) | FinalIncidentStates() | beam.Map(lambda r: r.explanation)
        )
        assert_that(final, equal_to(["80 km/h for 12 s"]))
