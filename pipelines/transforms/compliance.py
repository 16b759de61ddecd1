"""The compliance pipeline, one composite transform per way of running it.

Each mode reads as a sentence over (path, bytes) payloads::

    ReplayInMemory:  DecodeTelemetry | GroupByVehicle | AssignZones | EvaluateSeries | ConfirmAndSummarize
    ReplaySpilled:   DecodeTelemetry | SpillByVehicle | EvaluateSpilledBuckets | ConfirmAndSummarize
    EvaluateStream:  DecodeAndZoneBundles | EvaluateByWatermark
    ReplayAsStream:  EvaluateStream's steps | whole-input windows | ConfirmAndSummarize

All rule logic lives in ``zones.evaluate`` (pure Python on numpy columns); the modes differ
only in *when* a vehicle's samples are handed to its ``VehicleEvaluator``: a replay groups a
vehicle's whole series first (in memory, or on disk in ``spill``), the stream evaluates
whatever the watermark says is complete (``streaming``). The evaluator's results do not depend
on how a vehicle's samples are cut into chunks, so every mode gives the same incidents and
summaries; tests compare them with ``TestStream`` through ``ReplayAsStream``.

A bounded input ends, and its end is no evidence of silence: ``ConfirmAndSummarize`` drops the
telemetry gaps only the end opened (``gaps``) before merging the window summaries. An unbounded
stream has no end: ``EvaluateStream`` hands out lifecycle records and summary partials as they
come, for the stream job's sinks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
from apache_beam.transforms.trigger import AccumulationMode, AfterWatermark
from apache_beam.transforms.window import GlobalWindows

from pilotzone.pipelines.transforms.aggregate import SummarizeWindows
from pilotzone.pipelines.transforms.bundles import DecodeAndZoneBundles
from pilotzone.pipelines.transforms.decode import DEAD_LETTER, DecodeTelemetry
from pilotzone.pipelines.transforms.emit import FENCE_OBSERVATIONS, SUMMARIES
from pilotzone.pipelines.transforms.fences import ENFORCEMENT, JudgeFences, StreamFences
from pilotzone.pipelines.transforms.gaps import (
    CORRECTIONS,
    ConfirmGaps,
    chunk_time_horizon,
    event_time_horizon,
)
from pilotzone.pipelines.transforms.series import AssignZones, EvaluateSeries, GroupByVehicle
from pilotzone.pipelines.transforms.spill import EvaluateSpilledBuckets, SpillByVehicle, SpillPlan
from pilotzone.pipelines.transforms.streaming import EvaluateByWatermark, StreamSettings
from pilotzone.zones import Zone


class ComplianceResults(NamedTuple):
    """A mode's results before any sink: incident lifecycle records, window summaries (merged
    over the whole input for a replay, partials for ``EvaluateStream``) and all dead letters
    (decode, contract, late, duplicate, unplaced)."""

    incidents: beam.PCollection
    summaries: beam.PCollection
    dead_letters: beam.PCollection
    fence_observations: beam.PCollection | None = None
    """What fence judging observed for the metrics (``zones.fences.figures``); None where a mode
    judges no fences."""
    fence_enforcement: beam.PCollection | None = None
    """A stream with fences: when each fence was received and first enforced (JSON rows)."""


@dataclass(frozen=True)
class InMemoryReplaySettings:
    """How a replay that groups by vehicle in memory evaluates."""

    window_s: int = 60


@dataclass(frozen=True)
class SpilledReplaySettings:
    """How a replay that groups by vehicle on disk evaluates, and where it spills."""

    spill: SpillPlan
    window_s: int = 60


class ConfirmAndSummarize(beam.PTransform):
    """(incidents, summary partials) of a bounded input → (standing incidents, window summaries).

    Gaps only the input's end opened are dropped (``ConfirmGaps``, against ``horizon``, the
    latest event time in the input) and taken back out of the partials before they are merged.
    """

    def __init__(self, zones: Sequence[Zone], horizon: beam.PCollection, window_s: int) -> None:
        super().__init__()
        self.zones = zones
        self.horizon = horizon
        self.window_s = window_s

    def expand(
        self, evaluated: tuple[beam.PCollection, beam.PCollection]
    ) -> tuple[beam.PCollection, beam.PCollection]:
        incidents, partials = evaluated
        confirmed = incidents | "ConfirmGaps" >> ConfirmGaps(self.zones, self.horizon, self.window_s)
        corrected = (partials, confirmed[CORRECTIONS]) | "WithCorrections" >> beam.Flatten()
        return confirmed.incidents, corrected | "SummarizeWindows" >> SummarizeWindows()


def _all_dead_letters(
    decoded: beam.pvalue.DoOutputsTuple, evaluated: beam.pvalue.DoOutputsTuple
) -> beam.PCollection:
    return (decoded[DEAD_LETTER], evaluated[DEAD_LETTER]) | "AllDeadLetters" >> beam.Flatten()


@beam.typehints.with_input_types(tuple[str, bytes])
class ReplayInMemory(beam.PTransform):
    """Payloads of a bounded input → ``ComplianceResults``, each vehicle grouped in memory.

    Whole series per vehicle first, then zones: fewer, larger geometry calls (``GroupByVehicle``).
    """

    def __init__(self, zones: Sequence[Zone], settings: InMemoryReplaySettings) -> None:
        super().__init__()
        self.zones = list(zones)
        self.settings = settings

    def expand(self, payloads: beam.PCollection) -> ComplianceResults:
        window_s = self.settings.window_s
        decoded = payloads | "DecodeTelemetry" >> DecodeTelemetry()
        zoned = (
            decoded.chunks | "GroupByVehicle" >> GroupByVehicle() | "AssignZones" >> AssignZones(self.zones)
        )
        evaluated = zoned | "EvaluateRules" >> EvaluateSeries(self.zones, window_s)
        incidents, summaries = (evaluated.incidents, evaluated[SUMMARIES]) | ConfirmAndSummarize(
            self.zones, event_time_horizon(zoned), window_s
        )
        return ComplianceResults(incidents, summaries, _all_dead_letters(decoded, evaluated))


@beam.typehints.with_input_types(tuple[str, bytes])
class ReplaySpilled(beam.PTransform):
    """Payloads of a bounded input → ``ComplianceResults``, each vehicle grouped on disk (``spill``)."""

    def __init__(self, zones: Sequence[Zone], settings: SpilledReplaySettings) -> None:
        super().__init__()
        self.zones = list(zones)
        self.settings = settings

    def expand(self, payloads: beam.PCollection) -> ComplianceResults:
        window_s = self.settings.window_s
        decoded = payloads | "DecodeTelemetry" >> DecodeTelemetry()
        evaluated = (
            decoded.chunks
            | "SpillByVehicle" >> SpillByVehicle(self.settings.spill)
            | "EvaluateRules" >> EvaluateSpilledBuckets(self.zones, window_s)
        )
        incidents, summaries = (evaluated.incidents, evaluated[SUMMARIES]) | ConfirmAndSummarize(
            self.zones, chunk_time_horizon(decoded.chunks), window_s
        )
        return ComplianceResults(incidents, summaries, _all_dead_letters(decoded, evaluated))


@beam.typehints.with_input_types(tuple[str, bytes])
class EvaluateStream(beam.PTransform):
    """Payloads of an unbounded input → ``ComplianceResults`` as they come: lifecycle records,
    summary partials and dead letters, for sinks that merge or supersede them."""

    def __init__(
        self, zones: Sequence[Zone], settings: StreamSettings, fences: StreamFences | None = None
    ) -> None:
        super().__init__()
        self.zones = list(zones)
        self.settings = settings
        self.fences = fences

    def expand(self, payloads: beam.PCollection) -> ComplianceResults:
        decoded = payloads | "DecodeAndZone" >> DecodeAndZoneBundles(self.zones)
        zoned = decoded.zoned
        evaluated = zoned | "EvaluateRules" >> EvaluateByWatermark(self.zones, self.settings)
        incidents, observations, enforcement = evaluated.incidents, None, None
        if self.fences is not None:
            fenced = zoned | "JudgeFences" >> JudgeFences(self.fences, self.settings.allowed_lateness_ms)
            incidents = (incidents, fenced.incidents) | "AllIncidents" >> beam.Flatten()
            observations = fenced[FENCE_OBSERVATIONS]
            enforcement = fenced[ENFORCEMENT]
        dead_letters = _all_dead_letters(decoded, evaluated)
        return ComplianceResults(
            incidents,
            evaluated[SUMMARIES],
            dead_letters,
            fence_observations=observations,
            fence_enforcement=enforcement,
        )


@beam.typehints.with_input_types(tuple[str, bytes])
class ReplayAsStream(beam.PTransform):
    """Payloads of an input that ends, evaluated the stream's way → the replay's ``ComplianceResults``.

    What proves the stream equal to a replay: the same incidents and summaries from a
    ``TestStream`` of the same files, late and out-of-order uploads included.
    """

    def __init__(self, zones: Sequence[Zone], settings: StreamSettings) -> None:
        super().__init__()
        self.zones = list(zones)
        self.settings = dataclasses.replace(settings, input_ends=True)

    def expand(self, payloads: beam.PCollection) -> ComplianceResults:
        decoded = payloads | "DecodeAndZone" >> DecodeAndZoneBundles(self.zones)
        zoned = decoded.zoned
        evaluated = zoned | "EvaluateRules" >> EvaluateByWatermark(self.zones, self.settings)
        # The aggregations below (summaries, final incident states, the horizon) are taken over
        # the whole input: in a stream they fire once the watermark passes its end.
        incidents, partials, samples, dead_letters = (
            pcoll
            | f"WholeInput{name}"
            >> beam.WindowInto(
                GlobalWindows(), trigger=AfterWatermark(), accumulation_mode=AccumulationMode.DISCARDING
            )
            for name, pcoll in (
                ("Incidents", evaluated.incidents),
                ("Summaries", evaluated[SUMMARIES]),
                ("Samples", zoned),
                ("DeadLetters", _all_dead_letters(decoded, evaluated)),
            )
        )
        incidents, summaries = (incidents, partials) | ConfirmAndSummarize(
            self.zones, event_time_horizon(samples), self.settings.window_s
        )
        return ComplianceResults(incidents, summaries, dead_letters)
