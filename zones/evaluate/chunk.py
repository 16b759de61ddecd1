"""One chunk of a vehicle's samples under evaluation: its columns and what is derived from them.

The columns are the vehicle's last fix (the earlier end of the first interval) followed by
the new samples; from them come the local minute of the week, the groups of samples that
share a rule context, the gaps, and the additive window partials.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import shapely

from pilotzone import geo
from pilotzone.schemas.batch import DRIVING_MODES, EVENT_KINDS
from pilotzone.zones.compiled import area_index
from pilotzone.zones.evaluate.records import EvaluationOutput
from pilotzone.zones.evaluate.summaries import Windows
from pilotzone.zones.evaluate.tables import GroupRules, Plan, group_rules
from pilotzone.zones.evaluate.zoning import ZonedBatch, csr_take
from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, IntArray

_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0 as in zones.terms.WEEKDAYS
_DISENGAGEMENT = EVENT_KINDS.index("DISENGAGEMENT")
_REMOTE_TAKEOVER = EVENT_KINDS.index("REMOTE_TAKEOVER")


@dataclass
class LastFix:
    """The vehicle's last evaluated sample: the earlier end of the next interval."""

    time_ms: int
    longitude: float
    latitude: float
    accuracy: float
    speed: float
    mode: int
    vehicle_class: int
    operator_id: str
    zone: int  # as assigned (-1: outside every boundary)
    vehicle_zone: int
    codes: npt.NDArray[np.int32]  # areas in the vehicle zone
    gap_ms: int
    gap_rule: int  # global, -1: none
    gap_area: str | None
    gap_explanation: str


@dataclass
class Columns:
    """The columns one chunk is evaluated on: the last fix (if any) followed by new samples."""

    t: IntArray
    lon: FloatArray
    lat: FloatArray
    accuracy: FloatArray
    speed: FloatArray
    mode: npt.NDArray[np.int8]
    cls: npt.NDArray[np.int8]
    op: npt.NDArray[np.object_]
    zone: IntArray
    vz: IntArray
    offsets: IntArray
    codes: npt.NDArray[np.int32]

    def rows(self, start: int, end: int) -> Columns:
        """Rows ``start:end`` as columns of their own (views; the area lists stay shared)."""
        part = slice(start, end)
        return Columns(
            t=self.t[part],
            lon=self.lon[part],
            lat=self.lat[part],
            accuracy=self.accuracy[part],
            speed=self.speed[part],
            mode=self.mode[part],
            cls=self.cls[part],
            op=self.op[part],
            zone=self.zone[part],
            vz=self.vz[part],
            offsets=self.offsets[start : end + 1],
            codes=self.codes,
        )

    def fixes(
        self, minute: IntArray, stopped: Mapping[float, BoolArray], metres: Callable[[], FloatArray]
    ) -> Fixes:
        """What the rule kinds' conditions read of these rows."""
        return Fixes(
            speed_kmh=self.speed,
            accuracy_m=self.accuracy,
            driving_mode=self.mode,
            vehicle_class=self.cls,
            operator_id=self.op,
            minute_of_week=minute,
            stopped=stopped,
            metres_outside=metres,
        )


@dataclass
class Chunk:
    """One chunk under evaluation: its columns (last fix first) and what is derived from them."""

    zoned: ZonedBatch
    rows: npt.NDArray[np.intp]  # input rows evaluated, in order
    cols: Columns
    c0: int  # 1 if row 0 is the previous chunk's last fix, else 0
    minute: IntArray  # local minute of the week
    groups: list[tuple[int, GroupRules]]  # (vehicle zone, rules in force)
    ginv: IntArray  # group of each row
    gap: BoolArray  # the interval ending at this row is a gap
    gaps_before: IntArray  # gaps up to and including this row's interval
    in_rule_area: BoolArray  # group x rule: inside one of a crossable rule's areas
    out: EvaluationOutput

    def info(self, row: int) -> tuple[int, GroupRules]:
        """The vehicle zone of a row and the rules in force there."""
        return self.groups[int(self.ginv[row])]

    def last_fix(self, row: int, plan: Plan) -> LastFix:
        """A row as the earlier end of the next interval."""
        cols = self.cols
        zone_pos, info = self.info(row)
        first = plan.first_rule[zone_pos]
        return LastFix(
            time_ms=int(cols.t[row]),
            longitude=float(cols.lon[row]),
            latitude=float(cols.lat[row]),
            accuracy=float(cols.accuracy[row]),
            speed=float(cols.speed[row]),
            mode=int(cols.mode[row]),
            vehicle_class=int(cols.cls[row]),
            operator_id=str(cols.op[row]),
            zone=int(cols.zone[row]),
            vehicle_zone=zone_pos,
            codes=cols.codes[cols.offsets[row] : cols.offsets[row + 1]].copy(),
            gap_ms=info.gap_ms,
            gap_rule=-1 if info.gap_rule < 0 else first + info.gap_rule,
            gap_area=None if info.gap_rule < 0 else info.area[info.gap_rule],
            gap_explanation="" if info.gap_rule < 0 else info.explanation[info.gap_rule],
        )


def columns(
    zoned: ZonedBatch, rows: npt.NDArray[np.intp], vehicle_zone: IntArray, last: LastFix | None, plan: Plan
) -> Columns:
    """The last fix followed by the placed new samples, areas relative to the vehicle zone."""
    batch = zoned.batch
    whole = rows.size == len(batch)
    pick: Any = slice(None) if whole else rows
    if whole:
        offsets, codes = zoned.area_offsets, zoned.area_codes
    else:
        offsets, codes = csr_take(zoned.area_offsets, zoned.area_codes, rows)
    cols = Columns(
        t=batch.time_ms[pick],
        lon=batch.longitude[pick],
        lat=batch.latitude[pick],
        accuracy=batch.accuracy[pick],
        speed=batch.speed_kmh[pick],
        mode=batch.driving_mode[pick],
        cls=batch.vehicle_class[pick],
        op=batch.operator_id[pick],
        zone=zoned.zone[pick].astype(np.int64),
        vz=vehicle_zone,
        offsets=offsets,
        codes=codes,
    )
    if (cols.zone < 0).any():
        _add_areas_outside(cols, plan)
    if last is None:
        return cols
    k = len(last.codes)
    return Columns(
        t=np.concatenate([[last.time_ms], cols.t]),
        lon=np.concatenate([[last.longitude], cols.lon]),
        lat=np.concatenate([[last.latitude], cols.lat]),
        accuracy=np.concatenate([[last.accuracy], cols.accuracy]),
        speed=np.concatenate([[last.speed], cols.speed]),
        mode=np.concatenate([np.array([last.mode], dtype=np.int8), cols.mode]),
        cls=np.concatenate([np.array([last.vehicle_class], dtype=np.int8), cols.cls]),
        op=np.concatenate([np.array([last.operator_id], dtype=object), cols.op]),
        zone=np.concatenate([[last.zone], cols.zone]),
        vz=np.concatenate([[last.vehicle_zone], cols.vz]),
        offsets=np.concatenate([[0], cols.offsets + k]),
        codes=np.concatenate([last.codes, cols.codes]).astype(np.int32),
    )


def _add_areas_outside(cols: Columns, plan: Plan) -> None:
    """Give samples outside every boundary the areas of their vehicle zone they are in."""
    outside = np.flatnonzero(cols.zone < 0)
    n = len(cols.zone)
    lengths = cols.offsets[1:] - cols.offsets[:-1]
    owners = [np.repeat(np.arange(n), lengths)]
    found = [cols.codes.astype(np.int64)]
    for zone_pos in np.unique(cols.vz[outside]).tolist():
        rows = outside[cols.vz[outside] == zone_pos]
        index = area_index(plan.zones[zone_pos])
        if not index.area_ids:
            continue
        samples, positions = index.areas_containing(cols.lon[rows], cols.lat[rows])
        owners.append(rows[samples])
        found.append(positions)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    cols.offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=cols.offsets[1:])
    cols.codes = np.concatenate(found)[order].astype(np.int32)


def zones_present(vz: IntArray) -> list[int]:
    """The distinct vehicle zones of some rows, ascending (most chunks have one)."""
    if len(vz) == 0:
        return []
    if bool((vz == vz[0]).all()):
        return [int(vz[0])]
    present: list[int] = np.unique(vz).tolist()
    return present


def minute_of_week(t: IntArray, vz: IntArray, plan: Plan) -> IntArray:
    """The local minute of the week (Monday 00:00 is 0) of each time, in its vehicle zone."""
    local = np.empty_like(t)
    if plan.same_tz:
        local[:] = t + _utc_offsets_ms(t, plan.tables[int(vz[0])].tz)
    else:
        for zone_pos in np.unique(vz).tolist():
            rows = vz == zone_pos
            local[rows] = t[rows] + _utc_offsets_ms(t[rows], plan.tables[zone_pos].tz)
    days, in_day = np.divmod(local, _MS_PER_DAY)
    weekday = (days + _EPOCH_WEEKDAY) % 7
    minutes: IntArray = weekday * 1440 + in_day // 60_000
    return minutes


def _utc_offsets_ms(t: IntArray, tz: ZoneInfo) -> IntArray:
    """The zone's UTC offset at each time, looked up once per hour of event time (``t`` sorted)."""
    hours = t // _MS_PER_HOUR
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.flatnonzero(hours[1:] != hours[:-1]) + 1])
    offsets = np.array(
        [_offset_ms(tz, int(h)) for h in hours[starts].tolist()],
        dtype=np.int64,
    )
    if len(offsets) == 1:
        return np.full(len(t), offsets[0], dtype=np.int64)
    result: IntArray = np.repeat(offsets, np.diff(np.concatenate([starts, [len(t)]])))
    return result


@functools.lru_cache(maxsize=4096)
def _offset_ms(tz: ZoneInfo, hour: int) -> int:
    """The zone's UTC offset during one hour of event time (cached: a replay meets few hours)."""
    offset = dt.datetime.fromtimestamp(hour * 3600, tz=tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() * 1000)


def groups_of(cols: Columns, minute: IntArray, plan: Plan) -> tuple[list[tuple[int, GroupRules]], IntArray]:
    """Runs of samples with the same rule context, deduplicated into groups."""
    m = len(cols.t)
    pattern = np.empty(m, dtype=np.int64)
    if bool((cols.vz == cols.vz[0]).all()):
        pattern[:] = plan.tables[int(cols.vz[0])].pattern_of_minute[minute]
    else:
        for zone_pos in np.unique(cols.vz).tolist():
            rows = cols.vz == zone_pos
            pattern[rows] = plan.tables[zone_pos].pattern_of_minute[minute[rows]]
    inside = cols.zone >= 0
    lengths = cols.offsets[1:] - cols.offsets[:-1]
    same = (
        (cols.vz[1:] == cols.vz[:-1])
        & (cols.cls[1:] == cols.cls[:-1])
        & (pattern[1:] == pattern[:-1])
        & (inside[1:] == inside[:-1])
        & (lengths[1:] == lengths[:-1])
    )
    if len(cols.codes):
        # Same number of areas: compare the area lists position by position.
        owner = np.repeat(np.arange(m), lengths)
        previous_length = lengths[np.maximum(owner - 1, 0)]
        comparable = (owner > 0) & (lengths[owner] == previous_length)
        position = np.arange(len(cols.codes))
        other = np.where(comparable, position - previous_length, position)
        differs = comparable & (cols.codes != cols.codes[other])
        changed = np.zeros(m, dtype=bool)
        changed[owner[differs]] = True
        same &= ~changed[1:]
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    ids: dict[tuple[int, tuple[int, ...], int, int, bool], int] = {}
    groups: list[tuple[int, GroupRules]] = []
    run_group = np.empty(len(starts), dtype=np.int64)
    # Python lists once: the loop below runs once per change of area set, class or schedule.
    offsets, codes = cols.offsets[starts].tolist(), cols.codes.tolist()
    ends = cols.offsets[starts + 1].tolist()
    keys = zip(
        cols.vz[starts].tolist(),
        cols.cls[starts].tolist(),
        pattern[starts].tolist(),
        inside[starts].tolist(),
        strict=True,
    )
    for k, (zone_pos, cls, schedule, is_inside) in enumerate(keys):
        key = (zone_pos, tuple(codes[offsets[k] : ends[k]]), cls, schedule, is_inside)
        g = ids.get(key)
        if g is None:
            g = ids[key] = len(groups)
            minute_there = int(minute[starts[k]])
            groups.append((zone_pos, group_rules(plan.zones[zone_pos], key[1:], minute_there)))
        run_group[k] = g
    ginv = np.repeat(run_group, np.diff(np.concatenate([starts, [m]])))
    return groups, ginv


def metres_outside(cols: Columns, plan: Plan) -> FloatArray:
    """Metres outside the vehicle zone's boundary (0 inside a boundary)."""
    distance = np.zeros(len(cols.t))
    outside = np.flatnonzero(cols.zone < 0)
    for zone_pos in np.unique(cols.vz[outside]).tolist():
        rows = outside[cols.vz[outside] == zone_pos]
        tables = plan.tables[zone_pos]
        points = shapely.points(*tables.frame.to_local(cols.lon[rows], cols.lat[rows]))
        distance[rows] = shapely.distance(tables.boundary_m, points)
    return distance


def summarise(chunk: Chunk, dt_ms: IntArray, windows: Windows) -> None:
    """Add samples, observed time and distance and event counts to the window partials."""
    cols, c0 = chunk.cols, chunk.c0
    m = len(cols.t)
    observed_ms = np.zeros(m, dtype=np.int64)
    distance_mm = np.zeros(m, dtype=np.int64)
    if m > 1:
        observed = ~chunk.gap[1:]
        observed_ms[1:] = np.where(observed, dt_ms, 0)
        metres = geo.haversine_m(cols.lon[:-1], cols.lat[:-1], cols.lon[1:], cols.lat[1:])
        distance_mm[1:] = np.where(observed, np.rint(metres * 1000), 0).astype(np.int64)
    earlier_mode = np.concatenate([[0], cols.mode[:-1].astype(np.int64)])
    new = slice(c0, m)
    window = cols.t[new] // windows.window_ms
    vz, cls, op = cols.vz[new], cols.cls[new], cols.op[new]
    changes = (window[1:] != window[:-1]) | (vz[1:] != vz[:-1]) | (cls[1:] != cls[:-1])
    if not bool((op == op[0]).all()):
        changes |= op[1:] != op[:-1]
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1])
    segment = np.repeat(np.arange(len(starts)), np.diff(np.concatenate([starts, [m - c0]])))
    count = len(starts)
    samples = np.bincount(segment, minlength=count)
    seconds = np.bincount(segment, weights=observed_ms[new], minlength=count)
    modes = len(DRIVING_MODES)
    by_mode = np.bincount(
        segment * modes + earlier_mode[new], weights=distance_mm[new], minlength=count * modes
    ).reshape(count, modes)
    event_counts = np.zeros((2, count), dtype=np.int64)
    batch = chunk.zoned.batch
    if len(batch.event_row):
        position = np.full(len(batch), -1, dtype=np.int64)
        position[chunk.rows] = np.arange(len(chunk.rows))
        event_position = position[batch.event_row]
        kept = event_position >= 0
        for k, code in enumerate((_DISENGAGEMENT, _REMOTE_TAKEOVER)):
            of_kind = kept & (batch.event_kind == code)
            np.add.at(event_counts[k], segment[event_position[of_kind]], 1)
    # Python values once per chunk: the loop runs once per window the vehicle drove in.
    rows = c0 + starts
    keys = zip(
        cols.vz[rows].tolist(),
        cols.op[rows].tolist(),
        cols.cls[rows].tolist(),
        cols.t[rows].tolist(),
        strict=True,
    )
    samples_of, seconds_of, modes_of = samples.tolist(), seconds.tolist(), by_mode.tolist()
    disengagements, takeovers = event_counts.tolist()
    for k, (zone_pos, operator, cls, time_ms) in enumerate(keys):
        acc = windows.at(zone_pos, str(operator), cls, time_ms)
        acc.samples += samples_of[k]
        acc.vehicle_ms += round(seconds_of[k])
        for mode_code, mm in enumerate(modes_of[k]):
            if mm:
                acc.distance_mm[mode_code] = acc.distance_mm.get(mode_code, 0) + round(mm)
        acc.disengagements += disengagements[k]
        acc.remote_takeovers += takeovers[k]
