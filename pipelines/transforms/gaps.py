"""End of input is not evidence of silence: telemetry gaps that only a bounded input's end opened.

When a bounded input ends, the watermark jumps to the end of time and every vehicle looks
silent. A telemetry gap that had not yet lasted ``max_gap_s`` at the input's horizon (the
latest event time in the input) was not observed, so ``ConfirmGaps`` removes gap incidents
that would only have opened after the horizon. An unbounded stream has no horizon and keeps
them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from pilotzone.pipelines.transforms.decode import METRICS_NAMESPACE
from pilotzone.pipelines.transforms.emit import INCIDENTS, SUMMARIES
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import IncidentRecord, WindowSummary
from pilotzone.zones.model import TelemetryGapRule

CORRECTIONS = "corrections"
"""Tag of ``ConfirmGaps``' window-summary corrections for the gaps it removed."""

NO_SAMPLES_MS = -(2**62)
"""The latest event time of an empty batch: earlier than any sample."""


def max_gaps_ms(zones: Sequence[Zone]) -> dict[tuple[str, str, str], int]:
    """Each telemetry-gap rule's ``max_gap_s`` in ms, by (pilot zone, config version, rule id):
    the versions of a config history may set one rule's threshold differently."""
    return {
        (zone.zone_id, zone.version, rule.id): int(rule.max_gap_s * 1000)
        for zone in zones
        for rule in zone.rules_of_kind("telemetry_gap")
        if isinstance(rule, TelemetryGapRule)
    }


def latest_sample_ms(batch: TelemetryBatch) -> int:
    """The latest event time in a batch (``NO_SAMPLES_MS`` when it is empty)."""
    return int(batch.time_ms.max()) if len(batch) else NO_SAMPLES_MS


def event_time_horizon(zoned: beam.PCollection) -> beam.PCollection:
    """The latest event time among (vehicle, ZonedBatch) elements (a singleton), for ``ConfirmGaps``."""
    return (
        zoned
        | "LatestSample" >> beam.MapTuple(lambda _, z: latest_sample_ms(z.batch))
        | "Horizon" >> beam.CombineGlobally(max).without_defaults()
    )


def chunk_time_horizon(chunks: beam.PCollection) -> beam.PCollection:
    """The latest event time among (vehicle, TelemetryBatch) chunks (a singleton), for ``ConfirmGaps``."""
    return (
        chunks
        | "LatestSample" >> beam.MapTuple(lambda _, batch: latest_sample_ms(batch))
        | "Horizon" >> beam.CombineGlobally(max).without_defaults()
    )


def gap_observed(
    incident: IncidentRecord, horizon_ms: int, max_gap_ms: dict[tuple[str, str, str], int]
) -> bool:
    """Whether an incident was observed before the input ended (see the module docstring).

    Only open telemetry gaps can have been raised by the end of input itself: one is kept when
    the input went on past the moment its gap exceeded the rule's ``max_gap_s``.
    """
    if incident.kind != "telemetry_gap" or incident.end_ms is not None:
        return True
    return (
        incident.start_ms + max_gap_ms[(incident.pilot_zone, incident.config_version, incident.rule_id)]
        < horizon_ms
    )


def gap_correction(incident: IncidentRecord, window_ms: int) -> WindowSummary:
    """The partial that takes an unobserved gap back out of its window's ``incidents_opened``
    (the evaluator counted it as opened there); counted as ``gaps_after_end_of_input``."""
    Metrics.counter(METRICS_NAMESPACE, "gaps_after_end_of_input").inc()
    return WindowSummary(
        pilot_zone=incident.pilot_zone,
        config_version=incident.config_version,
        operator_id=incident.operator_id,
        vehicle_class=incident.vehicle_class,
        window_start_ms=incident.start_ms - incident.start_ms % window_ms,
        incidents_opened={(incident.kind, incident.severity): -1},
    )


def confirmed_outputs(
    outputs: Iterable[Any], horizon_ms: int, max_gap_ms: dict[tuple[str, str, str], int], window_ms: int
) -> Iterator[Any]:
    """An evaluation step's outputs with ``ConfirmGaps`` applied in place: unobserved gaps become
    corrections among the ``summaries`` partials, everything else passes unchanged, in order.

    For a step that knows the horizon when it evaluates (a replay's bucket, which runs after
    all input is read): its incidents and partials then need no further step, and the
    partials no extra pass through the runner, before they are merged.
    """
    for output in outputs:
        if isinstance(output, IncidentRecord) and not gap_observed(output, horizon_ms, max_gap_ms):
            yield beam.pvalue.TaggedOutput(SUMMARIES, gap_correction(output, window_ms))
        else:
            yield output


class ConfirmGapsFn(beam.DoFn):
    """Pass observed incidents on; turn the others into summary corrections."""

    def __init__(self, max_gap_ms: dict[tuple[str, str, str], int], window_s: int) -> None:
        self.max_gap_ms = max_gap_ms
        self.window_ms = window_s * 1000

    def process(self, incident: IncidentRecord, horizon: int) -> Iterator[Any]:
        if gap_observed(incident, horizon, self.max_gap_ms):
            yield incident
            return
        yield beam.pvalue.TaggedOutput(CORRECTIONS, gap_correction(incident, self.window_ms))


@beam.typehints.with_input_types(IncidentRecord)
class ConfirmGaps(beam.PTransform):
    """Drop telemetry gaps that only the end of a bounded input opened.

    Main output: the incidents that stand. ``corrections``: window-summary partials that
    subtract the removed gaps from ``incidents_opened``, so summaries agree with the log.
    """

    def __init__(self, zones: Sequence[Zone], horizon: beam.PCollection, window_s: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.window_s = window_s
        self.max_gap_ms = max_gaps_ms(zones)

    def expand(self, incidents: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return incidents | "Observed" >> beam.ParDo(
            ConfirmGapsFn(self.max_gap_ms, self.window_s), horizon=beam.pvalue.AsSingleton(self.horizon)
        ).with_outputs(CORRECTIONS, main=INCIDENTS)
