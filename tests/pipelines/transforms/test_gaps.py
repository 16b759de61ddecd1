"""ConfirmGaps on hand-built incidents: which stand, and the summary corrections for the others."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.transforms.decode import DEAD_LETTER
from pilotzone.pipelines.transforms.emit import SUMMARIES
from pilotzone.pipelines.transforms.gaps import CORRECTIONS, ConfirmGaps, confirmed_outputs, max_gaps_ms
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import IncidentRecord, WindowSummary
from tests.factories import T0_MS

RUNNER = "FnApiRunner"
HORIZON_MS = T0_MS + 75_000
"""The latest event time of the input: a gap (max 10 s in the every-kind zone) must have
started before 65 s to have been observed."""

GAP = IncidentRecord(
    incident_id="gap-observed",
    status="OPENED",
    pilot_zone="test-every-kind",
    area=None,
    rule_id="gap",
    kind="telemetry_gap",
    severity="MINOR",
    vehicle_id="veh-a",
    operator_id="op-taxi",
    start_ms=T0_MS + 30_000,
    end_ms=None,
    peak_value=None,
    latitude=35.17,
    longitude=126.84,
    config_version="v1",
    report_deadline_ms=None,
    explanation="no fix",
    vehicle_class="ROBOTAXI",
)


def _incidents(version: str) -> list[IncidentRecord]:
    """Observed, at the limit, opened by the end, closed late, not a gap: in that order."""
    # Thresholds are looked up by the version that opened the gap.
    gap = observed = dataclasses.replace(GAP, config_version=version)
    at_the_limit = dataclasses.replace(gap, incident_id="gap-at-the-limit", start_ms=HORIZON_MS - 10_000)
    by_the_end = dataclasses.replace(
        gap, incident_id="gap-by-the-end", vehicle_id="veh-b", start_ms=T0_MS + 119_000, vehicle_class="CAR"
    )
    closed_late = dataclasses.replace(
        gap, incident_id="gap-closed", status="CLOSED", start_ms=HORIZON_MS - 1_000, end_ms=HORIZON_MS
    )
    speeding = dataclasses.replace(
        gap,
        incident_id="speeding",
        rule_id="speed-zone",
        kind="speed_limit",
        start_ms=HORIZON_MS,
        peak_value=30.0,
    )
    return [observed, at_the_limit, by_the_end, closed_late, speeding]


def _correction(version: str, vehicle_class: str) -> WindowSummary:
    return WindowSummary(
        pilot_zone="test-every-kind",
        config_version=version,
        operator_id="op-taxi",
        vehicle_class=vehicle_class,
        window_start_ms=T0_MS + 60_000,
        incidents_opened={("telemetry_gap", "MINOR"): -1},
    )


def test_only_gaps_the_end_of_input_opened_are_dropped_and_counted_back(
    every_kind_zones: list[Zone],
) -> None:
    with TestPipeline(runner=RUNNER) as pipeline:
        horizon = pipeline | "Horizon" >> beam.Create([HORIZON_MS])
        confirmed = (
            pipeline
            | "Incidents" >> beam.Create(_incidents(every_kind_zones[0].version))
            | ConfirmGaps(every_kind_zones, horizon, window_s=60)
        )
        assert_that(
            confirmed.incidents | beam.Map(lambda i: i.incident_id),
            equal_to(["gap-observed", "gap-closed", "speeding"]),
            label="standing",
        )
        assert_that(
            confirmed[CORRECTIONS],
            equal_to(
                [
                    _correction(every_kind_zones[0].version, "ROBOTAXI"),
                    _correction(every_kind_zones[0].version, "CAR"),
                ]
            ),
            label="corrections",
        )


def test_confirmed_outputs_does_the_same_in_place_among_other_outputs(every_kind_zones: list[Zone]) -> None:
    version = every_kind_zones[0].version
    partial = beam.pvalue.TaggedOutput(SUMMARIES, _correction(version, "BUS"))
    letter = beam.pvalue.TaggedOutput(DEAD_LETTER, {"reason": "duplicate"})
    observed, at_the_limit, by_the_end, closed_late, speeding = _incidents(version)
    outputs = [observed, partial, at_the_limit, by_the_end, letter, closed_late, speeding]
    confirmed = list(confirmed_outputs(outputs, HORIZON_MS, max_gaps_ms(every_kind_zones), 60_000))
    assert [
        (output.tag, output.value) if isinstance(output, beam.pvalue.TaggedOutput) else output
        for output in confirmed
    ] == [
        observed,
        (SUMMARIES, _correction(version, "BUS")),
        (SUMMARIES, _correction(version, "ROBOTAXI")),
        (SUMMARIES, _correction(version, "CAR")),
        (DEAD_LETTER, {"reason": "duplicate"}),
        closed_late,
        speeding,
    ]
