"""Reported events: one incident per event rule and fix with a matching vehicle-reported event."""

from __future__ import annotations

import numpy as np

from pilotzone.schemas.batch import EVENT_KINDS, INITIATORS, NO_LEVEL
from pilotzone.zones.evaluate.chunk import Chunk, zones_present
from pilotzone.zones.evaluate.records import IncidentRecord
from pilotzone.zones.evaluate.tables import Plan
from pilotzone.zones.evaluate.writer import IncidentWriter
from pilotzone.zones.kinds.base import IntArray
from pilotzone.zones.kinds.vehicle_event import reported


def event_incidents(chunk: Chunk, writer: IncidentWriter) -> None:
    """Records of the events in a chunk, opened and closed at their fix.

    Several events of one kind in one fix are one incident.
    """
    if len(chunk.zoned.batch.event_row) == 0:
        return
    wanted, event_position = wanted_events(chunk, writer.plan)
    chunk.out.incidents.extend(event_records(chunk, writer, wanted.tolist(), event_position))


def wanted_events(chunk: Chunk, plan: Plan) -> tuple[IntArray, IntArray]:
    """The events (positions in the batch's event columns) at evaluated rows whose kind some
    event rule of the chunk's zones is about, and each event's row in the chunk's columns."""
    batch, cols = chunk.zoned.batch, chunk.cols
    position = np.full(len(batch), -1, dtype=np.int64)
    position[chunk.rows] = np.arange(chunk.c0, chunk.c0 + len(chunk.rows))
    event_position = position[batch.event_row]
    any_rule = np.zeros(len(EVENT_KINDS), dtype=bool)
    for zone_pos in zones_present(cols.vz):
        any_rule |= plan.tables[zone_pos].event_codes
    wanted = np.flatnonzero((event_position >= 0) & any_rule[batch.event_kind])
    return wanted, event_position


def event_records(
    chunk: Chunk, writer: IncidentWriter, wanted: list[int], event_position: IntArray
) -> list[IncidentRecord]:
    """The records of the ``wanted`` events (``wanted_events``) of one vehicle, in order."""
    batch, cols = chunk.zoned.batch, chunk.cols
    plan = writer.plan
    records: list[IncidentRecord] = []
    seen: set[tuple[int, int]] = set()
    for e in wanted:
        row = int(event_position[e])
        zone_pos, info = chunk.info(row)
        kind, initiator = int(batch.event_kind[e]), int(batch.event_initiator[e])
        found = info.event_rule(plan.zones[zone_pos], kind, initiator)
        if found is None or (row, found[0]) in seen:
            continue
        seen.add((row, found[0]))
        local, area, rule_explanation = found
        ref = plan.rule_ref(zone_pos, local)
        rule = ref.rule
        start = int(cols.t[row])
        deadline = ref.kind.report_deadline_ms(rule, start)
        by = None if initiator == NO_LEVEL else INITIATORS[initiator]
        operator = str(cols.op[row])
        writer.count_opened(zone_pos, operator, int(cols.cls[row]), start, rule)
        records.extend(
            writer.record(
                status,
                ref,
                start_ms=start,
                end_ms=end,
                peak=None,
                place=(float(cols.lon[row]), float(cols.lat[row])),
                area=area,
                operator=operator,
                vehicle_class=int(cols.cls[row]),
                explanation=f"{reported(EVENT_KINDS[kind], by)} where {rule_explanation}",
                deadline_ms=deadline,
            )
            for status, end in (("OPENED", None), ("CLOSED", start))
        )
    return records
