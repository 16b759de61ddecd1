"""What every rule evaluation step shares: its outputs, and the moment input ends.

The replay (in memory or spilled) and the stream hand a vehicle's samples to its
``VehicleEvaluator`` at different moments, but turn what it returns into the same three
outputs (incidents, window-summary partials, dead letters) with the same counters, and tell
it the same end-of-input time; this module is that one shared step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Duration, Timestamp

from pilotzone.pipelines.transforms.decode import DEAD_LETTER, METRICS_NAMESPACE, dead_letter_record
from pilotzone.zones.evaluate import EvaluationOutput, ZonedBatch

SUMMARIES = "summaries"
"""Tag of the window-summary partials output of every rule evaluation step."""

INCIDENTS = "incidents"
"""Name of the main (incident record) output of every rule evaluation step."""

FENCE_OBSERVATIONS = "fence_observations"
"""Tag of what fence judging observed for the metrics (``zones.fences.figures``): stays inside
fences, fences received and the event time reached; empty without fences."""

END_OF_INPUT = Timestamp(micros=GlobalWindow().max_timestamp().micros // 1000 * 1000) - Duration(
    seconds=24 * 3600
)
"""When the streaming evaluator's end-of-input timer fires: a day before the end of the global
window (on a whole millisecond, as watermarks are), not at it. What a timer outputs carries its timestamp, and output stamped with the
window's very end reaches the whole-input aggregations after their only firing, as late data."""

END_OF_INPUT_MS = int(END_OF_INPUT.micros // 1000)
"""``END_OF_INPUT`` in ms: the time a replay advances every evaluator to, as the stream's timer does."""


def emit_evaluation(vehicle: str, zoned: ZonedBatch | None, output: EvaluationOutput) -> Iterator[Any]:
    """The three outputs of one evaluator call, counting what it emits.

    ``zoned`` is the batch the call evaluated (``None`` for ``advance`` and ``finish``): its
    rows are what the counters and the dead letters for duplicates and unplaced samples refer to.
    """
    for incident in output.incidents:
        Metrics.counter(METRICS_NAMESPACE, f"incidents_{incident.status.lower()}").inc()
        yield incident
    for summary in output.summaries:
        yield beam.pvalue.TaggedOutput(SUMMARIES, summary)
    if zoned is None:
        return
    rejected = len(output.duplicates) + len(output.unplaced)
    Metrics.counter(METRICS_NAMESPACE, "records_decoded").inc(len(zoned.batch) - rejected)
    for reason, rows in (("duplicate", output.duplicates), ("outside_all_zones", output.unplaced)):
        yield from dead_rows(zoned, rows, reason, f"{reason.replace('_', ' ')} sample of {vehicle}")


def dead_rows(zoned: ZonedBatch, rows: np.ndarray, reason: str, message: str) -> Iterator[Any]:
    """Dead-letter the given rows of a zoned batch, one record each, counted by reason."""
    if len(rows) == 0:
        return
    Metrics.counter(METRICS_NAMESPACE, "records_dead_lettered").inc(len(rows))
    Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{reason}").inc(len(rows))
    batch = zoned.batch
    for row in rows.tolist():
        yield beam.pvalue.TaggedOutput(
            DEAD_LETTER,
            dead_letter_record(
                source=f"vehicle:{batch.vehicle_id[row]}",
                offset=-1,
                reason=reason,
                message=message,
                record=int(batch.record_index[row]),
                vehicle_id=str(batch.vehicle_id[row]),
                sequence_number=int(batch.sequence_number[row]),
                time_ms=int(batch.time_ms[row]),
            ),
        )


def with_evaluation_outputs(evaluate: beam.ParDo) -> beam.ParDo:
    """``evaluate`` with the incident, ``summaries``, ``dead_letter`` and ``fence_observations``
    outputs every mode has."""
    return evaluate.with_outputs(SUMMARIES, DEAD_LETTER, FENCE_OBSERVATIONS, main=INCIDENTS)
