"""Merging what many vehicles emit: window summaries by key, incidents by id.

Summary partials are merged by ``WindowSummary.key`` (pilot zone, config version, operator,
vehicle class, window start) with the summaries' own associative ``merge``, so any grouping of partials gives
the same totals; incident lifecycle records reduce to each incident's latest state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from pilotzone.zones.evaluate import STATUSES, IncidentRecord, WindowSummary
from pilotzone.zones.evaluate.summaries import SummaryKey, sum_partials


def merge_all(summaries: Iterable[WindowSummary]) -> WindowSummary:
    """The sum of partials of one key (``sum_partials``: linear, where pairwise merges are not)."""
    return sum_partials(summaries)


@beam.typehints.with_input_types(WindowSummary)
@beam.typehints.with_output_types(WindowSummary)
class SummarizeWindows(beam.PTransform):
    """Partial window summaries of many vehicles → one summary per zone, version, operator, class and window."""

    def expand(self, partials: beam.PCollection) -> beam.PCollection:
        return (
            partials
            | "KeyByWindow" >> beam.Map(lambda s: (s.key, s))
            | "Merge" >> beam.CombinePerKey(merge_all)
            | "Values" >> beam.Values()
        )


@beam.typehints.with_input_types(WindowSummary)
@beam.typehints.with_output_types(WindowSummary)
class MergeSummariesContinuously(beam.PTransform):
    """Partials → the running total of each (zone, version, operator, class, window), on every partial.

    A running total per key in Beam state, emitted each time a partial arrives: a partial that
    arrives late (a vehicle's upload after a long outage) still lands in its window's total
    instead of being dropped, and each emission supersedes the previous one for that key. State,
    not a per-element trigger on a global window, because state is honoured the same way on
    every runner, while Prism fires such a trigger only when the input ends. A key's total is
    forgotten ``RETENTION_S`` of event time after its window starts.
    """

    def expand(self, partials: beam.PCollection) -> beam.PCollection:
        return (
            partials
            | "ByKey" >> beam.Map(lambda s: (s.key, s))
            | "RunningTotal" >> beam.ParDo(RunningTotalFn())
        )


RETENTION_S = 24 * 3600
"""How long after its window starts a summary's running total is kept for partials still to come."""


class RunningTotalFn(beam.DoFn):
    """Per summary key: add the partial to the stored total and emit the new total."""

    TOTAL = ReadModifyWriteStateSpec("total", PickleCoder())
    FORGET = TimerSpec("forget", TimeDomain.WATERMARK)

    def process(
        self,
        element: tuple[SummaryKey, WindowSummary],
        total: Any = beam.DoFn.StateParam(TOTAL),
        forget: Any = beam.DoFn.TimerParam(FORGET),
    ) -> Iterator[WindowSummary]:
        partial = element[1]
        known: WindowSummary | None = total.read()
        merged = partial if known is None else known.merge(partial)
        total.write(merged)
        if known is None:
            forget.set(Timestamp(seconds=merged.window_start_ms / 1000 + RETENTION_S))
        yield merged

    @on_timer(FORGET)
    def on_forget(self, total: Any = beam.DoFn.StateParam(TOTAL)) -> Iterator[WindowSummary]:
        total.clear()
        return iter(())


_STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}


def latest_state(records: Iterable[IncidentRecord]) -> IncidentRecord:
    """CLOSED beats UPDATED beats OPENED; among updates the one with the highest peak, then
    the one observed furthest (the end-of-input update of an incident still open)."""
    return max(
        records,
        key=lambda r: (
            _STATUS_RANK[r.status],
            r.end_ms or 0,
            r.peak_value or 0.0,
            r.observed_until_ms or 0,
            r.explanation,
        ),
    )


@beam.typehints.with_input_types(IncidentRecord)
@beam.typehints.with_output_types(IncidentRecord)
class FinalIncidentStates(beam.PTransform):
    """Lifecycle records → the last state of each incident (what the incident log lists)."""

    def expand(self, incidents: beam.PCollection) -> beam.PCollection:
        return (
            incidents
            | "ById" >> beam.Map(lambda i: (i.incident_id, i))
            | "Latest" >> beam.CombinePerKey(latest_state)
            | "Values" >> beam.Values()
        )
