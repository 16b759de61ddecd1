"""Telemetry gaps: incidents of the silence between two fixes (the telemetry_gap kind).

A gap also ends every run and is no evidence of a path; that part lives with the runs and
crossings. Here: the OPENED record (the same whether the silence or the later fix showed the
gap first) and the CLOSED record once the later fix arrives.
"""

from __future__ import annotations

import numpy as np

from pilotzone.zones.evaluate.chunk import Chunk, LastFix
from pilotzone.zones.evaluate.records import IncidentRecord
from pilotzone.zones.evaluate.writer import IncidentWriter
from pilotzone.zones.kinds.telemetry_gap import TelemetryGapRule, silence_began, silence_lasted


def gap_opened(writer: IncidentWriter, last: LastFix) -> IncidentRecord:
    """The OPENED record of a gap after ``last``; the same whichever way the gap was seen."""
    ref = writer.plan.rules[last.gap_rule]
    rule = ref.rule
    assert isinstance(rule, TelemetryGapRule)
    writer.count_opened(last.vehicle_zone, last.operator_id, last.vehicle_class, last.time_ms, rule)
    return writer.record(
        "OPENED",
        ref,
        start_ms=last.time_ms,
        end_ms=None,
        peak=None,
        place=(last.longitude, last.latitude),
        area=last.gap_area,
        operator=last.operator_id,
        vehicle_class=last.vehicle_class,
        explanation=f"{silence_began(rule)} where {last.gap_explanation}",
    )


def gap_closed(writer: IncidentWriter, earlier: LastFix, end_ms: int) -> IncidentRecord:
    """The CLOSED record of the gap after ``earlier`` that ends at ``end_ms``."""
    ref = writer.plan.rules[earlier.gap_rule]
    rule = ref.rule
    assert isinstance(rule, TelemetryGapRule)
    seconds = (end_ms - earlier.time_ms) / 1000
    return writer.record(
        "CLOSED",
        ref,
        start_ms=earlier.time_ms,
        end_ms=end_ms,
        peak=seconds,
        place=(earlier.longitude, earlier.latitude),
        area=earlier.gap_area,
        operator=earlier.operator_id,
        vehicle_class=earlier.vehicle_class,
        explanation=f"{silence_lasted(rule, seconds)} where {earlier.gap_explanation}",
    )


def gap_incidents(chunk: Chunk, writer: IncidentWriter, last: LastFix | None, gap_open: bool) -> None:
    """Records of the gaps in a chunk; ``last``/``gap_open``: the previous chunk's last fix and
    whether ``advance`` already opened the gap after it."""
    cols = chunk.cols
    for i in np.flatnonzero(chunk.gap).tolist():
        _, info = chunk.info(i - 1)
        if info.gap_rule < 0:
            continue
        if i == chunk.c0 == 1 and last is not None:
            earlier = last
            if not gap_open:
                chunk.out.incidents.append(gap_opened(writer, earlier))
        else:
            earlier = chunk.last_fix(i - 1, writer.plan)
            chunk.out.incidents.append(gap_opened(writer, earlier))
        chunk.out.incidents.append(gap_closed(writer, earlier, int(cols.t[i])))
