"""Crossings: entering a crossable rule's areas between two fixes that are both outside them.

Fixes a few seconds apart can jump over a small restricted area; the straight segment
between them is the best evidence of the path. A gap is no such evidence, so no crossing is
looked for across one. Crossings add no violation seconds (the time inside is an estimate).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import shapely

from pilotzone.schemas.batch import VEHICLE_CLASSES
from pilotzone.zones.evaluate.chunk import Chunk, zones_present
from pilotzone.zones.evaluate.records import IncidentRecord
from pilotzone.zones.evaluate.tables import A_MONDAY, Plan
from pilotzone.zones.evaluate.writer import IncidentWriter
from pilotzone.zones.kinds.restricted_area import crossing_observed, entry_point, inside_fraction
from pilotzone.zones.rules import independent_rules


def crossings(chunk: Chunk, writer: IncidentWriter) -> None:
    """Records of the crossings in a chunk (opened and closed at once)."""
    for zone_pos, local, i, line in crossing_hits(chunk, writer.plan):
        chunk.out.incidents.extend(crossing_records(chunk, writer, i, line, zone_pos, local))


def crossing_hits(chunk: Chunk, plan: Plan) -> list[tuple[int, int, int, Any]]:
    """The (vehicle zone, crossable rule's local number, later fix, segment) of every segment
    that enters a crossable rule's areas, by zone, rule and fix.

    Only intervals that are not gaps count, so a chunk holding several vehicles one after the
    other is searched at once when ``chunk.gap`` also marks each vehicle's first fix.
    """
    cols = chunk.cols
    hits: list[tuple[int, int, int, Any]] = []
    if len(cols.t) < 2:
        return hits
    lon, lat = cols.lon, cols.lat
    seg_minx, seg_maxx = np.minimum(lon[:-1], lon[1:]), np.maximum(lon[:-1], lon[1:])
    seg_miny, seg_maxy = np.minimum(lat[:-1], lat[1:]), np.maximum(lat[:-1], lat[1:])
    for zone_pos in zones_present(cols.vz):
        tables = plan.tables[zone_pos]
        for local, crossable in tables.crossable.items():
            minx, miny, maxx, maxy = crossable.bounds
            near = (seg_maxx >= minx) & (seg_minx <= maxx) & (seg_maxy >= miny) & (seg_miny <= maxy)
            later = np.flatnonzero(near) + 1
            if later.size == 0:
                continue
            earlier = later - 1
            week = tables.week[local]
            keep = (
                (cols.vz[earlier] == zone_pos) & ~chunk.gap[later] & tables.class_ok[local][cols.cls[earlier]]
            )
            if week is not None:
                keep &= week[chunk.minute[earlier]]
            in_area = chunk.in_rule_area[:, plan.first_rule[zone_pos] + local]
            keep &= ~in_area[chunk.ginv[earlier]] & ~in_area[chunk.ginv[later]]
            later = later[keep]
            if later.size == 0:
                continue
            starts = np.column_stack([lon[later - 1], lat[later - 1]])
            ends = np.column_stack([lon[later], lat[later]])
            lines = shapely.linestrings(np.stack([starts, ends], axis=1))
            found = shapely.intersects(crossable.union, lines)
            for i, line in zip(later[found].tolist(), lines[found].tolist(), strict=True):
                hits.append((zone_pos, local, i, line))
    return hits


def crossing_records(  # noqa: PLR0917 - one crossing: where, which rule
    chunk: Chunk, writer: IncidentWriter, i: int, line: Any, zone_pos: int, local: int
) -> list[IncidentRecord]:
    """OPENED and CLOSED records of one crossing (``crossing_hits``), none if it was shorter
    than the grace."""
    cols = chunk.cols
    ref = writer.plan.rule_ref(zone_pos, local)
    crossable = writer.plan.tables[zone_pos].crossable[local]
    zone = writer.plan.zones[ref.zone_pos]
    rule = ref.rule
    start_ms, end_ms = int(cols.t[i - 1]), int(cols.t[i])
    inside_ms = round(inside_fraction(line, crossable) * (end_ms - start_ms))
    grace_ms = ref.kind.grace_ms(rule)
    if grace_ms > 0 and inside_ms < grace_ms:
        return []
    entry = entry_point(line, crossable)
    if entry is None:
        return []
    area_id, point = entry
    local_time = A_MONDAY + dt.timedelta(minutes=int(chunk.minute[i - 1]))
    vehicle_class = VEHICLE_CLASSES[int(cols.cls[i - 1])]
    applied = next(
        a
        for a in independent_rules(zone, rule.kind, {area_id}, local_time, vehicle_class)
        if a.rule.id == rule.id
    )
    operator = str(cols.op[i - 1])
    explanation = f"{crossing_observed(area_id, end_ms - start_ms, inside_ms)} where {applied.explanation}"
    writer.count_opened(ref.zone_pos, operator, int(cols.cls[i - 1]), start_ms, rule)
    return [
        writer.record(
            status,
            ref,
            start_ms=start_ms,
            end_ms=end,
            peak=inside_ms / 1000,
            place=(float(point[0]), float(point[1])),
            area=area_id,
            operator=operator,
            vehicle_class=int(cols.cls[i - 1]),
            explanation=explanation,
        )
        for status, end in (("OPENED", None), ("CLOSED", end_ms))
    ]
