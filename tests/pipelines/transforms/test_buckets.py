"""A bucket's window-summary partials merged by key before they leave the bucket."""

from __future__ import annotations

import apache_beam as beam

from pilotzone.pipelines.transforms.buckets import summed_in_bucket
from pilotzone.pipelines.transforms.emit import SUMMARIES
from pilotzone.zones.evaluate import WindowSummary


def _partial(
    vehicle: str, window_start_ms: int, samples: int, operator: str = "op-a"
) -> beam.pvalue.TaggedOutput:
    summary = WindowSummary(
        "gwangju", "sha256:v1", operator, "ROBOTAXI", window_start_ms, samples, frozenset({vehicle})
    )
    return beam.pvalue.TaggedOutput(SUMMARIES, summary)


def test_partials_of_a_key_become_one_after_the_other_outputs() -> None:
    dead_letter = beam.pvalue.TaggedOutput("dead_letter", {"reason": "duplicate"})
    outputs = [
        _partial("veh-a", 60_000, 3),
        "incident-1",
        _partial("veh-b", 60_000, 5),
        _partial("veh-a", 0, 7),
        dead_letter,
        _partial("veh-c", 60_000, 1, operator="op-b"),
        "incident-2",
    ]
    merged = list(summed_in_bucket(outputs))
    assert merged[:3] == ["incident-1", dead_letter, "incident-2"]
    assert [(m.tag, m.value) for m in merged[3:]] == [
        (SUMMARIES, WindowSummary("gwangju", "sha256:v1", "op-a", "ROBOTAXI", 0, 7, frozenset({"veh-a"}))),
        (
            SUMMARIES,
            WindowSummary(
                "gwangju", "sha256:v1", "op-a", "ROBOTAXI", 60_000, 8, frozenset({"veh-a", "veh-b"})
            ),
        ),
        (
            SUMMARIES,
            WindowSummary("gwangju", "sha256:v1", "op-b", "ROBOTAXI", 60_000, 1, frozenset({"veh-c"})),
        ),
    ]
    assert list(summed_in_bucket([])) == []
