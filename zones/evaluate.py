"""Rule evaluation on time-ordered telemetry batches: samples in, incidents and window summaries out.

The Beam pipeline hands each vehicle's samples to one ``VehicleEvaluator`` in time-ordered
chunks; everything here works on numpy columns, and Python loops run over runs, area sets,
rules, gaps, events and windows, never over samples. The evaluator is the regulator's
arithmetic, so it is deterministic in a strong sense: **the records and the merged window
summaries do not depend on how the samples are cut into chunks** (nor on ``advance`` calls
between chunks). Every lifecycle record is emitted at a point the data defines, and every
quantity is accumulated in integer milliseconds and millimetres.

Where a sample is
    ``assign_zones`` puts each sample in the first zone (in list order) whose boundary it is
    in (edges count as inside) and lists its areas. The evaluator then gives each sample the
    *vehicle's zone*: its own zone if it has one, else the zone of the vehicle's last sample
    inside a boundary (so leaving a boundary is judged against the zone that was left), else,
    for a vehicle never seen inside any boundary, the first zone whose permits list its
    operator. Samples with none of these are *unplaced*: returned in
    ``EvaluationOutput.unplaced`` for the pipeline to dead-letter, and not evaluated. A vehicle
    outside every boundary stays under its vehicle zone's rules (zone-wide ones, and area ones
    where an area sticks out of the boundary) until it enters another zone: its permit and
    reporting duties do not lapse by leaving.

Which rule applies
    Local time is the zone's timezone; the UTC offset comes from ``zoneinfo`` once per hour of
    event time. Samples are grouped by (vehicle zone, area set, vehicle class, which rule
    schedules cover the minute, inside the boundary); each group asks ``zones.rules`` once
    (``winning_rule`` for overriding kinds, ``independent_rules`` for restricted_area,
    leave_boundary and permit), so precedence and the one-line explanations are exactly those
    of ``pilotzone zones explain``. Schedules are read to the minute.

Runs: how a condition becomes an incident (all kinds except telemetry_gap, vehicle_event
and restricted-area crossings)
    Per rule, a sample *violates* when that rule is in force there and its condition holds.
    Violating samples form a *run*; the run survives non-violating fixes for less than
    ``HOLD_S`` (3 s): it ends when the condition has been false for ``HOLD_S`` (measured from the
    first non-violating fix), or at a telemetry gap (below). So one noisy fix neither splits an
    incident nor ends it. A run becomes an incident at its first violating fix at least
    ``grace_s`` after the run's start (dwell: more than ``max_dwell_s``); a shorter run leaves
    no trace. The incident starts at the run's first violating fix (``latitude``/``longitude``
    there, ``area`` = the rule's scoping area there) and ends (``end_ms``) at the first fix at
    which the condition no longer held, or at the last fix before a gap. Records: ``OPENED``
    when it becomes an incident, ``UPDATED`` for speed_limit and leave_boundary whenever the peak
    reaches 1.1 times the last reported peak, ``CLOSED`` when the end is known from later data.
    A run's end is known only from later fixes; ``advance`` never closes one and ``finish`` leaves
    it open (``end_ms`` None).

Telemetry gap
    Two consecutive fixes further apart than ``max_gap_s`` of the telemetry_gap rule in force at
    the earlier fix are a gap (strictly more). Without such a rule, ``DEFAULT_OBSERVATION_GAP_S``
    still separates observed stretches (no incident). A gap ends every run at the last fix
    before it, does not count as driving time or distance, and is no evidence of a path (no
    crossing is looked for across it). Its incident starts at the earlier fix and ends at the
    later one, with peak = the gap in seconds; the ``OPENED`` record (end and peak null) is
    the same whether ``advance`` saw the silence first or the later fix arrived first, and the
    ``CLOSED`` record follows with the later fix.

Conditions and peaks (peak units: km/h over the limit, metres outside, seconds otherwise)
    * speed_limit: ``speed_kmh > limit_kmh + tolerance_kmh``; peak = max(speed - limit).
    * leave_boundary: outside the vehicle zone's boundary by more than the sample's horizontal
      accuracy (a fix within its accuracy of the edge does not count: GPS-noise hysteresis);
      distance in a local metric projection; peak = max metres outside.
    * restricted_area: inside one of the rule's areas; peak = seconds. Also a *crossing*: two
      consecutive fixes (no gap between) both outside every area of the rule whose straight
      segment enters one (for a rule with ``grace_s`` > 0, only when the straight-line estimate
      of the time inside reaches ``grace_s``) is an incident from the earlier fix to the later,
      located at the entry point, peak = the estimated seconds inside, opened and closed at
      once. Crossings add no violation seconds (the time inside is an estimate).
    * operating_hours: the local minute is outside every ``permitted`` window of the rule.
    * driving_mode: the sample's mode is not in ``allowed_modes``.
    * dwell: stopped, with hysteresis: a stop starts below ``stopped_below_kmh`` and lasts
      until speed reaches ``stopped_below_kmh + DWELL_RESUME_MARGIN_KMH``; peak = seconds.
    * permit: the operator holds no permit for the zone, or not for the vehicle's class; one
      incident per stretch of continuous observation with this vehicle zone (opened at the
      first sample, grace 0; a gap, or ``HOLD_S`` in another zone, ends it); peak = seconds.
    * vehicle_event: each reported event with a winning rule for its kind (and initiator; an
      event without initiator matches every rule, as in ``zones.rules``) is an incident opened
      and closed at the sample, ``report_deadline`` = start + ``report_within_h``, peak null.
      Several events of one kind in one sample are one incident.

Window summaries
    Additive partials per (zone, operator, vehicle class, window). Samples, distance (by the
    earlier fix's mode) and observed seconds (intervals that are not gaps) go to the window of
    the later fix; ``violation_s_by_rule`` counts the time of runs that became incidents, from
    start to end, clipped to windows (for an open incident, up to its last violating fix);
    ``incidents_opened`` counts by start time. A window is emitted once nothing that can still
    arrive can change it (after ``finish`` everything is emitted); should anything reach an
    emitted window, it comes out as a further partial, and partials are meant to be summed.

Duplicates
    A sample whose sequence number the vehicle already sent within ``DUPLICATE_HORIZON_S`` of
    event time is a duplicate: returned in ``EvaluationOutput.duplicates`` and ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import shapely

from pilotzone import geo
from pilotzone.schemas.batch import (
    DRIVING_MODES,
    EVENT_KINDS,
    INITIATORS,
    NO_LEVEL,
    VEHICLE_CLASSES,
    TelemetryBatch,
)
from pilotzone.zones.compiled import area_index, per_zone
from pilotzone.zones.model import (
    WEEKDAYS,
    DrivingModeRule,
    DwellRule,
    OperatingHoursRule,
    RestrictedAreaRule,
    Rule,
    SpeedLimitRule,
    TelemetryGapRule,
    VehicleEventRule,
)
from pilotzone.zones.rules import independent_rules, week_minutes, winning_rule
from pilotzone.zones.zone import Zone

HOLD_S = 3.0
"""How long a condition must stay false before its run ends (GPS noise must not flap incidents)."""

DWELL_RESUME_MARGIN_KMH = 1.0
"""A stop ends only when speed reaches ``stopped_below_kmh`` plus this margin."""

DEFAULT_OBSERVATION_GAP_S = 30.0
"""Where no telemetry_gap rule is in force, fixes further apart than this are not one stretch."""

DUPLICATE_HORIZON_S = 300.0
"""Sequence numbers are remembered for this long (event time) to recognise duplicates."""

UPDATE_RATIO = 1.1
"""An UPDATED record is emitted when the peak reaches this multiple of the last reported peak."""

STATUSES = ("OPENED", "UPDATED", "CLOSED")
"""``IncidentRecord.status`` values, in lifecycle order."""

_HOLD_MS = int(HOLD_S * 1000)
_DEFAULT_GAP_MS = int(DEFAULT_OBSERVATION_GAP_S * 1000)
_DUPLICATE_MS = int(DUPLICATE_HORIZON_S * 1000)
_MINUTES_PER_WEEK = 7 * 24 * 60
_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0 as in zones.model.WEEKDAYS
_A_MONDAY = dt.datetime(2024, 1, 1)  # naive: zones.rules reads it as the zone's wall-clock time
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_OVERRIDING_RUN_KINDS = ("speed_limit", "driving_mode", "dwell", "operating_hours")
_RUN_KINDS = frozenset(
    {"speed_limit", "leave_boundary", "restricted_area", "operating_hours", "driving_mode", "dwell", "permit"}
)
_DISENGAGEMENT = EVENT_KINDS.index("DISENGAGEMENT")
_REMOTE_TAKEOVER = EVENT_KINDS.index("REMOTE_TAKEOVER")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


# --- where each sample is -----------------------------------------------------------------


@dataclass(frozen=True)
class ZonedBatch:
    """A batch plus where each sample is: its zone and the areas of that zone it is in.

    ``zone[i]`` indexes the zones list given to ``assign_zones`` (-1: outside every boundary);
    the areas of sample ``i`` are ``area_codes[area_offsets[i]:area_offsets[i + 1]]``, positions
    in ``area_index(zones[zone[i]]).area_ids``, ascending.
    """

    batch: TelemetryBatch
    zone: npt.NDArray[np.int16]
    area_offsets: IntArray
    area_codes: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.batch)

    def areas_of(self, row: int) -> npt.NDArray[np.int32]:
        """Area positions of one sample."""
        return self.area_codes[self.area_offsets[row] : self.area_offsets[row + 1]]

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> ZonedBatch:
        """The selected samples (an index array or a mask) with their zones and areas."""
        index = np.flatnonzero(rows) if rows.dtype == np.bool_ else np.asarray(rows, dtype=np.intp)
        offsets, codes = _csr_take(self.area_offsets, self.area_codes, index)
        return ZonedBatch(self.batch.take(index), self.zone[index], offsets, codes)

    @classmethod
    def concat(cls, items: Sequence[ZonedBatch]) -> ZonedBatch:
        """One ZonedBatch holding all samples of ``items`` in order."""
        if not items:
            return assign_zones([], TelemetryBatch.from_records([]))
        shifts = np.cumsum([0] + [len(item.area_codes) for item in items[:-1]])
        offsets = np.concatenate(
            [np.zeros(1, dtype=np.int64)]
            + [item.area_offsets[1:] + shift for item, shift in zip(items, shifts, strict=True)]
        )
        return cls(
            TelemetryBatch.concat([item.batch for item in items]),
            np.concatenate([item.zone for item in items]).astype(np.int16),
            offsets.astype(np.int64),
            np.concatenate([item.area_codes for item in items]).astype(np.int32),
        )


def assign_zones(zones: Sequence[Zone], batch: TelemetryBatch) -> ZonedBatch:
    """Zone and areas of every sample, vectorised (stateless, so it can run before grouping).

    A sample inside several zones' boundaries goes to the first of them in ``zones``.
    """
    n = len(batch)
    zone = np.full(n, -1, dtype=np.int16)
    owners: list[npt.NDArray[np.intp]] = []
    codes: list[npt.NDArray[np.intp]] = []
    remaining = np.arange(n)
    for position, candidate in enumerate(zones):
        if remaining.size == 0:
            break
        index = area_index(candidate)
        lon, lat = batch.longitude[remaining], batch.latitude[remaining]
        inside = index.inside_boundary(lon, lat)
        rows = remaining[inside]
        if rows.size == 0:
            continue
        zone[rows] = position
        remaining = remaining[~inside]
        if index.area_ids:
            samples, positions = index.areas_containing(lon[inside], lat[inside])
            owners.append(rows[samples])
            codes.append(positions)
    if owners:
        owner = np.concatenate(owners)
        order = np.argsort(owner, kind="stable")
        area_codes = np.concatenate(codes)[order].astype(np.int32)
        counts = np.bincount(owner, minlength=n)
    else:
        area_codes = np.zeros(0, dtype=np.int32)
        counts = np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return ZonedBatch(batch, zone, offsets, area_codes)


def _csr_take(
    offsets: IntArray, codes: npt.NDArray[np.int32], rows: npt.NDArray[np.intp]
) -> tuple[IntArray, npt.NDArray[np.int32]]:
    """The CSR lists of the selected rows, in the order given."""
    lengths = (offsets[1:] - offsets[:-1])[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    if total == 0:
        return new_offsets, np.zeros(0, dtype=np.int32)
    source = np.repeat(offsets[:-1][rows] - new_offsets[:-1], lengths) + np.arange(total)
    return new_offsets, codes[source]


# --- outputs ------------------------------------------------------------------------------


def rfc3339_ms(time_ms: int) -> str:
    """UTC time as RFC 3339 with milliseconds and ``Z`` (integer arithmetic, no float rounding)."""
    seconds, millis = divmod(int(time_ms), 1000)
    moment = _EPOCH + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def incident_id(pilot_zone: str, rule_id: str, vehicle_id: str, start_ms: int) -> str:
    """The deterministic incident id: a replay of the same telemetry gives the same ids."""
    key = f"{pilot_zone}|{rule_id}|{vehicle_id}|{start_ms}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class IncidentRecord:
    """One lifecycle state of an incident (see ``schemas/avro/incident.avsc``)."""

    incident_id: str
    status: str
    pilot_zone: str
    area: str | None
    rule_id: str
    kind: str
    severity: str
    vehicle_id: str
    operator_id: str
    start_ms: int
    end_ms: int | None
    peak_value: float | None
    latitude: float
    longitude: float
    config_version: str
    report_deadline_ms: int | None
    explanation: str
    vehicle_class: str = field(default="OTHER", compare=False)
    """The vehicle's class when the incident started. Not part of the log or the Avro record;
    the pipeline uses it to key corrections of the window summaries."""

    def to_avro(self) -> dict[str, Any]:
        """A record of the ``Incident`` Avro schema (times as integer milliseconds)."""
        return {
            "incident_id": self.incident_id,
            "status": self.status,
            "pilot_zone": self.pilot_zone,
            "area": self.area,
            "rule_id": self.rule_id,
            "kind": self.kind,
            "severity": self.severity,
            "vehicle_id": self.vehicle_id,
            "operator_id": self.operator_id,
            "start_time": self.start_ms,
            "end_time": self.end_ms,
            "peak_value": self.peak_value,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "config_version": self.config_version,
            "report_deadline": self.report_deadline_ms,
            "explanation": self.explanation,
        }

    def to_json(self) -> dict[str, Any]:
        """The incident log's line format: the Avro record's fields in its order, without
        ``status``, times as RFC 3339 UTC strings."""
        line = self.to_avro()
        del line["status"]
        for key in ("start_time", "end_time", "report_deadline"):
            if line[key] is not None:
                line[key] = rfc3339_ms(line[key])
        return line


def _thousandths(value: float) -> int:
    return round(value * 1000)


def _add_thousandths(a: float, b: float) -> float:
    # Values are kept as k/1000 (ms, mm); adding the integers makes merging exactly associative.
    return (_thousandths(a) + _thousandths(b)) / 1000


def _merge_counts(a: dict[Any, float], b: dict[Any, float]) -> dict[Any, float]:
    merged = dict(a)
    for key, value in b.items():
        merged[key] = _add_thousandths(merged[key], value) if key in merged else value
    return dict(sorted(merged.items()))


@dataclass
class WindowSummary:
    """Additive partial of one (pilot_zone, operator, vehicle class, window); partials are summed.

    Seconds and metres are multiples of 1/1000 (ms, mm) and ``merge`` adds them as integers,
    so merging is exactly associative and commutative, and totals do not depend on the order
    in which a runner combines partials.
    """

    pilot_zone: str
    operator_id: str
    vehicle_class: str
    window_start_ms: int
    samples: int = 0
    vehicle_ids: frozenset[str] = frozenset()
    vehicle_seconds: float = 0.0
    distance_m_by_mode: dict[str, float] = field(default_factory=dict)
    violation_s_by_rule: dict[str, float] = field(default_factory=dict)
    incidents_opened: dict[tuple[str, str], int] = field(default_factory=dict)
    disengagements: int = 0
    remote_takeovers: int = 0

    @property
    def key(self) -> tuple[str, str, str, int]:
        """What partials are merged by."""
        return (self.pilot_zone, self.operator_id, self.vehicle_class, self.window_start_ms)

    def merge(self, other: WindowSummary) -> WindowSummary:
        """The sum of two partials of the same key (a new object; neither input changes)."""
        if self.key != other.key:
            raise ValueError(f"cannot merge window summaries of different keys: {self.key} and {other.key}")
        opened = dict(self.incidents_opened)
        for key, count in other.incidents_opened.items():
            opened[key] = opened.get(key, 0) + count
        return WindowSummary(
            pilot_zone=self.pilot_zone,
            operator_id=self.operator_id,
            vehicle_class=self.vehicle_class,
            window_start_ms=self.window_start_ms,
            samples=self.samples + other.samples,
            vehicle_ids=self.vehicle_ids | other.vehicle_ids,
            vehicle_seconds=_add_thousandths(self.vehicle_seconds, other.vehicle_seconds),
            distance_m_by_mode=_merge_counts(self.distance_m_by_mode, other.distance_m_by_mode),
            violation_s_by_rule=_merge_counts(self.violation_s_by_rule, other.violation_s_by_rule),
            incidents_opened=dict(sorted(opened.items())),
            disengagements=self.disengagements + other.disengagements,
            remote_takeovers=self.remote_takeovers + other.remote_takeovers,
        )


def _empty_rows() -> npt.NDArray[np.intp]:
    return np.zeros(0, dtype=np.intp)


@dataclass
class EvaluationOutput:
    """What one evaluator call produced; row arrays index the batch passed to ``process``."""

    incidents: list[IncidentRecord] = field(default_factory=list)
    summaries: list[WindowSummary] = field(default_factory=list)
    duplicates: npt.NDArray[np.intp] = field(default_factory=_empty_rows)
    """Rows dropped as duplicates (dead-letter reason ``duplicate``)."""
    unplaced: npt.NDArray[np.intp] = field(default_factory=_empty_rows)
    """Rows of a vehicle in no zone (dead-letter reason ``outside_all_zones``)."""


# --- per-zone tables (built once per zone by per_zone) -------------------------------------


@dataclass(frozen=True)
class _Crossable:
    """A restricted_area rule's geometry, for finding segments that cross it."""

    area_ids: tuple[str, ...]
    geometries: tuple[Any, ...]
    union: Any
    bounds: tuple[float, float, float, float]


@dataclass(frozen=True)
class _ZoneTables:
    """Everything per zone the evaluator looks up by array index instead of by string."""

    tz: ZoneInfo
    local_of: dict[str, int]
    pattern_of_minute: npt.NDArray[np.int32]
    """Per minute of the week, which combination of rule schedules covers it (an id)."""
    class_ok: BoolArray  # rules x vehicle classes
    week: tuple[BoolArray | None, ...]  # per rule: its schedule's minutes, None = always
    permitted_minutes: dict[int, BoolArray]  # operating_hours rules
    allowed_modes: dict[int, BoolArray]  # driving_mode rules
    permits: dict[str, BoolArray]  # operator -> vehicle classes permitted
    crossable: dict[int, _Crossable]  # restricted_area rules
    event_codes: BoolArray  # event kinds some vehicle_event rule is about
    boundary_m: Any  # the boundary in a local metric projection, prepared
    origin: tuple[float, float, float, float]  # lon0, lat0, metres per degree lon, lat


@per_zone
def _zone_tables(zone: Zone) -> _ZoneTables:
    rules = zone.rules
    week = tuple(None if r.applies.schedule is None else week_minutes(r.applies.schedule) for r in rules)
    scheduled = [w for w in week if w is not None]
    if scheduled:
        _, pattern = np.unique(np.stack(scheduled), axis=1, return_inverse=True)
        pattern_of_minute = pattern.reshape(-1).astype(np.int32)
    else:
        pattern_of_minute = np.zeros(_MINUTES_PER_WEEK, dtype=np.int32)
    class_ok = np.array(
        [
            [r.applies.vehicle_classes is None or c in r.applies.vehicle_classes for c in VEHICLE_CLASSES]
            for r in rules
        ],
        dtype=bool,
    ).reshape(len(rules), len(VEHICLE_CLASSES))
    permitted_minutes = {
        i: week_minutes(r.permitted) for i, r in enumerate(rules) if isinstance(r, OperatingHoursRule)
    }
    allowed_modes = {
        i: np.array([m in r.allowed_modes for m in DRIVING_MODES], dtype=bool)
        for i, r in enumerate(rules)
        if isinstance(r, DrivingModeRule)
    }
    permits = {
        op.id: np.array([c in op.vehicle_classes for c in VEHICLE_CLASSES], dtype=bool)
        for op in zone.config.operators
    }
    crossable: dict[int, _Crossable] = {}
    for i, r in enumerate(rules):
        if isinstance(r, RestrictedAreaRule):
            ids = tuple(a for a in (r.applies.areas or []) if a in zone.areas)
            geometries = tuple(zone.areas[a].geometry for a in ids)
            if not geometries:
                continue
            union = shapely.union_all(geometries)
            shapely.prepare(union)
            minx, miny, maxx, maxy = (
                float(b) for b in shapely.total_bounds(np.array(geometries, dtype=object))
            )
            crossable[i] = _Crossable(ids, geometries, union, (minx, miny, maxx, maxy))
    event_codes = np.array(
        [any(isinstance(r, VehicleEventRule) and r.event == e for r in rules) for e in EVENT_KINDS],
        dtype=bool,
    )
    minx, miny, maxx, maxy = zone.boundary.bounds
    lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
    per_lon, per_lat = (float(v) for v in geo.metres_per_degree(lat0))
    boundary_m = shapely.transform(zone.boundary, lambda c: (c - [lon0, lat0]) * [per_lon, per_lat])
    shapely.prepare(boundary_m)
    return _ZoneTables(
        tz=zone.config.tz,
        local_of={r.id: i for i, r in enumerate(rules)},
        pattern_of_minute=pattern_of_minute,
        class_ok=class_ok,
        week=week,
        permitted_minutes=permitted_minutes,
        allowed_modes=allowed_modes,
        permits=permits,
        crossable=crossable,
        event_codes=event_codes,
        boundary_m=boundary_m,
        origin=(lon0, lat0, per_lon, per_lat),
    )


@dataclass
class _GroupRules:
    """The rules in force for one group of samples (zone, areas, class, schedules, inside)."""

    areas: frozenset[str]
    vehicle_class: str
    local_time: dt.datetime
    in_force: BoolArray  # per zone rule (run kinds)
    area: list[str | None]
    explanation: list[str]
    gap_rule: int  # zone-local index, -1: none
    gap_ms: int
    in_rule_area: BoolArray  # per zone rule: the areas include one of the rule's areas
    events: dict[tuple[int, int], tuple[int, str | None, str] | None] = field(default_factory=dict)

    def event_rule(self, zone: Zone, kind: int, initiator: int) -> tuple[int, str | None, str] | None:
        """The winning vehicle_event rule for an event kind and initiator (cached per group)."""
        key = (kind, initiator)
        if key not in self.events:
            applied = winning_rule(
                zone,
                "vehicle_event",
                self.areas,
                self.local_time,
                self.vehicle_class,
                EVENT_KINDS[kind],
                initiator=None if initiator == NO_LEVEL else INITIATORS[initiator],
            )
            self.events[key] = (
                None
                if applied is None
                else (_zone_tables(zone).local_of[applied.rule.id], applied.area, applied.explanation)
            )
        return self.events[key]


def _group_rules(zone: Zone, key: tuple[tuple[int, ...], int, int, bool], minute: int) -> _GroupRules:
    """Rules in force for a group, computed once per zone and group key.

    ``key`` is (area positions, vehicle class code, schedule pattern, inside the boundary);
    ``minute`` is any minute of the week with that schedule pattern.
    """
    codes, cls, _, inside = key

    def compute() -> _GroupRules:
        tables = _zone_tables(zone)
        ids = area_index(zone).area_ids
        areas = frozenset(ids[c] for c in codes)
        local = _A_MONDAY + dt.timedelta(minutes=minute)
        vehicle_class = VEHICLE_CLASSES[cls]
        count = len(zone.rules)
        in_force = np.zeros(count, dtype=bool)
        area: list[str | None] = [None] * count
        explanation = [""] * count
        applied_rules = [
            winning_rule(zone, kind, areas, local, vehicle_class) for kind in _OVERRIDING_RUN_KINDS
        ]
        applied_rules += independent_rules(zone, "restricted_area", areas, local, vehicle_class)
        applied_rules += independent_rules(zone, "permit", areas, local, vehicle_class)
        applied_rules += independent_rules(
            zone, "leave_boundary", areas, local, vehicle_class, inside_boundary=inside
        )
        gap = winning_rule(zone, "telemetry_gap", areas, local, vehicle_class)
        for applied in [*applied_rules, gap]:
            if applied is None:
                continue
            i = tables.local_of[applied.rule.id]
            in_force[i] = applied.kind in _RUN_KINDS
            area[i], explanation[i] = applied.area, applied.explanation
        in_rule_area = np.array(
            [
                isinstance(r, RestrictedAreaRule) and bool(areas & set(r.applies.areas or ()))
                for r in zone.rules
            ],
            dtype=bool,
        )
        gap_rule = -1 if gap is None else tables.local_of[gap.rule.id]
        gap_ms = (
            _DEFAULT_GAP_MS
            if gap is None or not isinstance(gap.rule, TelemetryGapRule)
            else round(gap.rule.max_gap_s * 1000)
        )
        return _GroupRules(
            areas, vehicle_class, local, in_force, area, explanation, gap_rule, gap_ms, in_rule_area
        )

    groups = _groups_of(zone)
    if key not in groups:
        groups[key] = compute()
    return groups[key]


@per_zone
def _groups_of(zone: Zone) -> dict[tuple[tuple[int, ...], int, int, bool], _GroupRules]:
    """The groups ``_group_rules`` has computed for a zone, by group key (empty at first)."""
    return {}


@dataclass(frozen=True)
class _RuleRef:
    """A rule of one of the evaluator's zones, numbered across all zones."""

    zone_pos: int
    local: int
    rule: Rule


class _Plan:
    """The evaluator's zones flattened into arrays (rebuilt after unpickling, not stored)."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = list(zones)
        self.tables = [_zone_tables(z) for z in self.zones]
        self.rules: list[_RuleRef] = []
        self.first_rule: list[int] = []
        for position, zone in enumerate(self.zones):
            self.first_rule.append(len(self.rules))
            self.rules.extend(_RuleRef(position, i, rule) for i, rule in enumerate(zone.rules))
        self.operator_zone: dict[str, int] = {}
        for position, zone in enumerate(self.zones):
            for op in zone.config.operators:
                self.operator_zone.setdefault(op.id, position)
        self.stop_thresholds = sorted(
            {r.rule.stopped_below_kmh for r in self.rules if isinstance(r.rule, DwellRule)}
        )
        self.run_rules = [g for g, r in enumerate(self.rules) if r.rule.kind in _RUN_KINDS]
        self.same_tz = len({t.tz.key for t in self.tables}) <= 1


# --- evaluator state -----------------------------------------------------------------------


@dataclass
class _Run:
    """An open or pending run of one rule (see the module docstring)."""

    rule: int  # global rule number
    incident_id: str
    zone_pos: int
    start_ms: int
    latitude: float
    longitude: float
    area: str | None
    explanation: str
    operator_id: str
    vehicle_class: int
    detail: str
    last_true_ms: int
    peak: float = -math.inf
    first_false_ms: int | None = None
    opened: bool = False
    reported_peak: float = 0.0
    accounted_ms: int = 0


@dataclass
class _LastFix:
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
class _Acc:
    """Integer accumulators of one window partial."""

    samples: int = 0
    vehicle_ms: int = 0
    distance_mm: dict[int, int] = field(default_factory=dict)
    violation_ms: dict[str, int] = field(default_factory=dict)
    opened: dict[tuple[str, str], int] = field(default_factory=dict)
    disengagements: int = 0
    remote_takeovers: int = 0


@dataclass
class _Columns:
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


@dataclass
class _Segment:
    """A run of one rule within a chunk.

    ``run`` is the run carried over from earlier chunks that this segment continues (None for
    a run starting here); ``rows`` are its violating rows here; ``end_ms`` is its end if this
    chunk shows it, else None, and then ``first_false_ms`` is the time of the first
    non-violating fix after its last violating one (None if the last fix violates).
    """

    run: _Run | None
    rows: npt.NDArray[np.intp]
    end_ms: int | None
    first_false_ms: int | None


@dataclass
class _Chunk:
    """One chunk under evaluation: its columns (last fix first) and what is derived from them."""

    zoned: ZonedBatch
    rows: npt.NDArray[np.intp]  # input rows evaluated, in order
    cols: _Columns
    c0: int  # 1 if row 0 is the previous chunk's last fix, else 0
    minute: IntArray  # local minute of the week
    groups: list[tuple[int, _GroupRules]]  # (vehicle zone, rules in force)
    ginv: IntArray  # group of each row
    gap: BoolArray  # the interval ending at this row is a gap
    gaps_before: IntArray  # gaps up to and including this row's interval
    in_rule_area: BoolArray  # group x rule: inside one of a restricted_area rule's areas
    out: EvaluationOutput

    def info(self, row: int) -> tuple[int, _GroupRules]:
        return self.groups[int(self.ginv[row])]


class VehicleEvaluator:
    """All rule state of ONE vehicle. Picklable (it lives in Beam state between bundles).

    Feed it the vehicle's samples in (time, sequence number) order, in chunks of any size,
    each starting no earlier than the previous chunk's last sample and the last ``advance``.
    """

    def __init__(self, zones: Sequence[Zone], vehicle_id: str, window_s: int = 60) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.zones = list(zones)
        self.vehicle_id = vehicle_id
        self.window_ms = int(window_s) * 1000
        self._frontier: int | None = None
        self._last: _LastFix | None = None
        self._last_inside_zone = -1
        self._gap_open = False
        self._runs: dict[int, _Run] = {}
        self._stopped: dict[float, bool] = {}
        self._recent_seq = np.zeros(0, dtype=np.int64)
        self._recent_t = np.zeros(0, dtype=np.int64)
        self._windows: dict[tuple[int, str, int, int], _Acc] = {}
        self._plan_cache: _Plan | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The plan holds derived tables; the zones themselves travel and rebuild it.
        state = dict(self.__dict__)
        state["_plan_cache"] = None
        return state

    @property
    def _plan(self) -> _Plan:
        if self._plan_cache is None:
            self._plan_cache = _Plan(self.zones)
        return self._plan_cache

    # --- public API --------------------------------------------------------------------

    def process(self, zoned: ZonedBatch) -> EvaluationOutput:
        """Evaluate the next chunk of this vehicle's samples."""
        out = EvaluationOutput()
        batch = zoned.batch
        n = len(batch)
        if n == 0:
            return out
        t = batch.time_ms
        if (self._frontier is not None and int(t[0]) < self._frontier) or (
            n > 1 and bool((t[1:] < t[:-1]).any())
        ):
            raise ValueError(
                f"samples of {self.vehicle_id} must come in time order, none before {self._frontier}: "
                "sort each chunk and do not pass samples older than the last chunk or advance()"
            )
        duplicate = self._duplicates(batch.sequence_number, t)
        fresh = np.flatnonzero(~duplicate)
        vehicle_zone = self._vehicle_zones(zoned, fresh)
        placed = fresh[vehicle_zone >= 0]
        out.duplicates = np.flatnonzero(duplicate)
        out.unplaced = fresh[vehicle_zone < 0]
        self._frontier = int(t[-1]) if self._frontier is None else max(self._frontier, int(t[-1]))
        if placed.size:
            self._evaluate(zoned, placed, vehicle_zone[vehicle_zone >= 0], out)
        out.summaries = self._emit_windows(final=False)
        return out

    def advance(self, watermark_ms: int) -> EvaluationOutput:
        """Event time has reached ``watermark_ms`` and no further sample came before it.

        Opens a telemetry gap the silence has already made certain, and emits the window
        summaries nothing can change any more. Runs are not closed here: their end is only
        known from later fixes.
        """
        out = EvaluationOutput()
        watermark_ms = int(watermark_ms)
        if self._frontier is not None and watermark_ms <= self._frontier:
            return out
        self._frontier = watermark_ms
        last = self._last
        if last is not None and not self._gap_open and watermark_ms - last.time_ms > last.gap_ms:
            self._gap_open = True
            if last.gap_rule >= 0:
                out.incidents.append(self._gap_opened(last))
        out.summaries = self._emit_windows(final=False)
        return out

    def finish(self) -> EvaluationOutput:
        """End of input: every remaining window summary; open incidents stay open."""
        return EvaluationOutput(summaries=self._emit_windows(final=True))

    # --- bookkeeping ---------------------------------------------------------------------

    def _duplicates(self, seq: IntArray, t: IntArray) -> BoolArray:
        """Samples whose sequence number was already sent within the horizon; updates memory."""
        n = len(seq)
        duplicate = np.zeros(n, dtype=bool)
        increasing = n < 2 or bool((seq[1:] > seq[:-1]).all())
        if not increasing:
            order = np.lexsort((np.arange(n), seq))
            s, times = seq[order], t[order]
            repeat = np.zeros(n, dtype=bool)
            repeat[1:] = (s[1:] == s[:-1]) & (times[1:] - times[:-1] <= _DUPLICATE_MS)
            duplicate[order] = repeat
        known, known_t = self._recent_seq, self._recent_t
        if known.size and int(seq.min()) <= int(known[-1]):
            at = np.minimum(np.searchsorted(known, seq), known.size - 1)
            duplicate |= (known[at] == seq) & (t - known_t[at] <= _DUPLICATE_MS)
        if increasing and (known.size == 0 or int(seq[0]) > int(known[-1])):
            all_seq, all_t = np.concatenate([known, seq]), np.concatenate([known_t, t])
        else:
            merged_seq, merged_t = np.concatenate([known, seq]), np.concatenate([known_t, t])
            order = np.lexsort((merged_t, merged_seq))
            merged_seq, merged_t = merged_seq[order], merged_t[order]
            latest = np.ones(len(merged_seq), dtype=bool)
            latest[:-1] = merged_seq[1:] != merged_seq[:-1]
            all_seq, all_t = merged_seq[latest], merged_t[latest]
        keep = all_t >= int(t[-1]) - _DUPLICATE_MS
        self._recent_seq, self._recent_t = all_seq[keep], all_t[keep]
        return duplicate

    def _vehicle_zones(self, zoned: ZonedBatch, rows: npt.NDArray[np.intp]) -> IntArray:
        """Per row in ``rows``: the vehicle's zone (module docstring), -1 if unplaced."""
        if rows.size == 0:
            return np.zeros(0, dtype=np.int64)
        zone = zoned.zone[rows].astype(np.int64)
        seen = np.maximum.accumulate(np.where(zone >= 0, np.arange(len(zone)), -1))
        vehicle_zone = np.where(seen >= 0, zone[np.maximum(seen, 0)], self._last_inside_zone)
        if seen[-1] >= 0:
            self._last_inside_zone = int(zone[seen[-1]])
        missing = np.flatnonzero(vehicle_zone < 0)
        if missing.size:
            operators = zoned.batch.operator_id[rows[missing]]
            lookup = self._plan.operator_zone
            if bool((operators == operators[0]).all()):
                vehicle_zone[missing] = lookup.get(operators[0], -1)
            else:
                vehicle_zone[missing] = [lookup.get(op, -1) for op in operators]
        return vehicle_zone

    def _acc(self, zone_pos: int, operator: str, cls: int, time_ms: int) -> _Acc:
        start = time_ms - time_ms % self.window_ms
        key = (zone_pos, operator, cls, start)
        acc = self._windows.get(key)
        if acc is None:
            acc = self._windows[key] = _Acc()
        return acc

    def _account(self, run: _Run, until_ms: int) -> None:
        """Add the run's violation time from what is already counted up to ``until_ms``."""
        rule_id = self._plan.rules[run.rule].rule.id
        start = run.accounted_ms
        while start < until_ms:
            window_end = start - start % self.window_ms + self.window_ms
            piece_end = min(until_ms, window_end)
            acc = self._acc(run.zone_pos, run.operator_id, run.vehicle_class, start)
            acc.violation_ms[rule_id] = acc.violation_ms.get(rule_id, 0) + piece_end - start
            start = piece_end
        run.accounted_ms = max(run.accounted_ms, until_ms)

    def _count_opened(self, zone_pos: int, operator: str, cls: int, start_ms: int, rule: Rule) -> None:
        acc = self._acc(zone_pos, operator, cls, start_ms)
        key = (rule.kind, str(rule.severity))
        acc.opened[key] = acc.opened.get(key, 0) + 1

    def _safe_until(self) -> int:
        """Event time before which nothing can change any window any more."""
        assert self._frontier is not None
        safe = self._frontier
        last = self._last
        gap_decided = last is None or self._gap_open or self._frontier - last.time_ms > last.gap_ms
        if last is not None and not gap_decided:
            # The next fix may reveal a gap or a crossing that starts at the last fix.
            safe = min(safe, last.time_ms)
        for run in self._runs.values():
            if run.opened:
                safe = min(safe, run.accounted_ms)
            elif not (
                gap_decided
                or (run.first_false_ms is not None and self._frontier >= run.first_false_ms + _HOLD_MS)
            ):
                safe = min(safe, run.start_ms)
        return safe

    def _emit_windows(self, *, final: bool) -> list[WindowSummary]:
        if not self._windows:
            return []
        if final:
            ready = sorted(self._windows)
        else:
            if self._frontier is None:
                return []
            safe = self._safe_until()
            ready = sorted(key for key in self._windows if key[3] + self.window_ms <= safe)
        return [self._summary(key, self._windows.pop(key)) for key in ready]

    def _summary(self, key: tuple[int, str, int, int], acc: _Acc) -> WindowSummary:
        zone_pos, operator, cls, start = key
        return WindowSummary(
            pilot_zone=self.zones[zone_pos].zone_id,
            operator_id=operator,
            vehicle_class=VEHICLE_CLASSES[cls],
            window_start_ms=start,
            samples=acc.samples,
            vehicle_ids=frozenset({self.vehicle_id}) if acc.samples else frozenset(),
            vehicle_seconds=acc.vehicle_ms / 1000,
            distance_m_by_mode={DRIVING_MODES[m]: mm / 1000 for m, mm in sorted(acc.distance_mm.items())},
            violation_s_by_rule={r: ms / 1000 for r, ms in sorted(acc.violation_ms.items())},
            incidents_opened=dict(sorted(acc.opened.items())),
            disengagements=acc.disengagements,
            remote_takeovers=acc.remote_takeovers,
        )

    # --- one chunk -----------------------------------------------------------------------

    def _columns(self, zoned: ZonedBatch, rows: npt.NDArray[np.intp], vehicle_zone: IntArray) -> _Columns:
        """The last fix followed by the placed new samples, areas relative to the vehicle zone."""
        batch = zoned.batch
        whole = rows.size == len(batch)
        pick: Any = slice(None) if whole else rows
        if whole:
            offsets, codes = zoned.area_offsets, zoned.area_codes
        else:
            offsets, codes = _csr_take(zoned.area_offsets, zoned.area_codes, rows)
        cols = _Columns(
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
            self._add_areas_outside(cols)
        last = self._last
        if last is None:
            return cols
        k = len(last.codes)
        return _Columns(
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

    def _add_areas_outside(self, cols: _Columns) -> None:
        """Give samples outside every boundary the areas of their vehicle zone they are in."""
        outside = np.flatnonzero(cols.zone < 0)
        n = len(cols.zone)
        lengths = cols.offsets[1:] - cols.offsets[:-1]
        owners = [np.repeat(np.arange(n), lengths)]
        found = [cols.codes.astype(np.int64)]
        for zone_pos in np.unique(cols.vz[outside]).tolist():
            rows = outside[cols.vz[outside] == zone_pos]
            index = area_index(self.zones[zone_pos])
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

    def _minute_of_week(self, t: IntArray, vz: IntArray) -> IntArray:
        plan = self._plan
        local = np.empty_like(t)
        if plan.same_tz:
            local[:] = t + _utc_offsets_ms(t, plan.tables[int(vz[0])].tz)
        else:
            for zone_pos in np.unique(vz).tolist():
                rows = vz == zone_pos
                local[rows] = t[rows] + _utc_offsets_ms(t[rows], plan.tables[zone_pos].tz)
        days, in_day = np.divmod(local, _MS_PER_DAY)
        weekday = (days + _EPOCH_WEEKDAY) % 7
        minute_of_week: IntArray = weekday * 1440 + in_day // 60_000
        return minute_of_week

    def _evaluate(
        self, zoned: ZonedBatch, rows: npt.NDArray[np.intp], vehicle_zone: IntArray, out: EvaluationOutput
    ) -> None:
        plan = self._plan
        cols = self._columns(zoned, rows, vehicle_zone)
        m = len(cols.t)
        minute = self._minute_of_week(cols.t, cols.vz)
        groups, ginv = self._groups(cols, minute)
        # A gap: an interval longer than the gap threshold in force at its earlier fix.
        gap_ms = np.array([info.gap_ms for _, info in groups], dtype=np.int64)[ginv]
        dt_ms = np.diff(cols.t)
        gap = np.zeros(m, dtype=bool)
        gap[1:] = dt_ms > gap_ms[:-1]
        chunk = _Chunk(
            zoned=zoned,
            rows=rows,
            cols=cols,
            c0=0 if self._last is None else 1,
            minute=minute,
            groups=groups,
            ginv=ginv,
            gap=gap,
            gaps_before=np.cumsum(gap),
            in_rule_area=np.zeros((len(groups), len(plan.rules)), dtype=bool),
            out=out,
        )
        self._gap_incidents(chunk)
        self._summarise(chunk, dt_ms)
        stopped = self._stop_states(cols.speed, chunk.c0)

        in_force = np.zeros((len(groups), len(plan.rules)), dtype=bool)
        for g, (zone_pos, info) in enumerate(groups):
            first = plan.first_rule[zone_pos]
            in_force[g, first : first + len(info.in_force)] = info.in_force
            chunk.in_rule_area[g, first : first + len(info.in_force)] = info.in_rule_area
        rules_to_run = sorted(set(np.flatnonzero(in_force.any(axis=0)).tolist()) | set(self._runs))
        outside_m: FloatArray | None = None
        permitted: dict[int, BoolArray] = {}
        for r in rules_to_run:
            ref = plan.rules[r]
            rule = ref.rule
            applies = in_force[ginv, r]
            applies[: chunk.c0] = False
            values: FloatArray | None = None
            if isinstance(rule, SpeedLimitRule):
                condition = applies & (cols.speed > rule.limit_kmh + rule.tolerance_kmh)
                values = cols.speed - rule.limit_kmh
            elif rule.kind == "leave_boundary":
                if outside_m is None:
                    outside_m = self._metres_outside(cols)
                condition = applies & (outside_m > cols.accuracy)
                values = outside_m
            elif isinstance(rule, OperatingHoursRule):
                condition = applies & ~plan.tables[ref.zone_pos].permitted_minutes[ref.local][minute]
            elif isinstance(rule, DrivingModeRule):
                condition = applies & ~plan.tables[ref.zone_pos].allowed_modes[ref.local][cols.mode]
            elif isinstance(rule, DwellRule):
                condition = applies & stopped[rule.stopped_below_kmh]
            elif rule.kind == "permit":
                if ref.zone_pos not in permitted:
                    permitted[ref.zone_pos] = self._permitted(cols, ref.zone_pos)
                condition = applies & ~permitted[ref.zone_pos]
            else:  # restricted_area: being in force means being inside
                condition = applies
            if r not in self._runs and not condition.any():
                continue
            for segment in self._segments(r, condition, chunk):
                self._apply_segment(r, segment, values, chunk)

        self._crossings(chunk)
        self._event_incidents(chunk)
        row = m - 1
        zone_pos, info = chunk.info(row)
        self._last = self._fix(cols, row, zone_pos, info)
        self._stopped = {low: bool(states[row]) for low, states in stopped.items()}

    def _groups(self, cols: _Columns, minute: IntArray) -> tuple[list[tuple[int, _GroupRules]], IntArray]:
        """Runs of samples with the same rule context, deduplicated into groups."""
        plan = self._plan
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
        groups: list[tuple[int, _GroupRules]] = []
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
                groups.append((zone_pos, _group_rules(self.zones[zone_pos], key[1:], minute_there)))
            run_group[k] = g
        ginv = np.repeat(run_group, np.diff(np.concatenate([starts, [m]])))
        return groups, ginv

    def _stop_states(self, speed: FloatArray, c0: int) -> dict[float, BoolArray]:
        """Per dwell threshold, whether the vehicle is stopped at each sample (Schmitt trigger)."""
        states: dict[float, BoolArray] = {}
        index = np.arange(len(speed))
        for low in self._plan.stop_thresholds:
            stop = speed < low
            decisive = stop | (speed >= low + DWELL_RESUME_MARGIN_KMH)
            if c0:
                stop[0] = self._stopped.get(low, False)
                decisive[0] = True
            latest = np.maximum.accumulate(np.where(decisive, index, -1))
            states[low] = (latest >= 0) & stop[np.maximum(latest, 0)]
        return states

    def _metres_outside(self, cols: _Columns) -> FloatArray:
        """Metres outside the vehicle zone's boundary (0 inside a boundary)."""
        distance = np.zeros(len(cols.t))
        outside = np.flatnonzero(cols.zone < 0)
        for zone_pos in np.unique(cols.vz[outside]).tolist():
            rows = outside[cols.vz[outside] == zone_pos]
            tables = self._plan.tables[zone_pos]
            lon0, lat0, per_lon, per_lat = tables.origin
            points = shapely.points((cols.lon[rows] - lon0) * per_lon, (cols.lat[rows] - lat0) * per_lat)
            distance[rows] = shapely.distance(tables.boundary_m, points)
        return distance

    def _permitted(self, cols: _Columns, zone_pos: int) -> BoolArray:
        """Whether the sample's operator holds a permit for its vehicle class in the zone."""
        permits = self._plan.tables[zone_pos].permits
        none = np.zeros(len(VEHICLE_CLASSES), dtype=bool)
        if bool((cols.op == cols.op[0]).all()):
            return permits.get(cols.op[0], none)[cols.cls]
        return np.array([permits.get(op, none)[c] for op, c in zip(cols.op, cols.cls.tolist(), strict=True)])

    def _segments(self, r: int, condition: BoolArray, chunk: _Chunk) -> list[_Segment]:
        """Runs of one rule in this chunk (see ``_Segment``), in time order."""
        t, gap, gaps_before, c0 = chunk.cols.t, chunk.gap, chunk.gaps_before, chunk.c0
        m = len(t)
        run = self._runs.get(r)
        true_rows = np.flatnonzero(condition)
        if true_rows.size == 0:
            assert run is not None
            if run.first_false_ms is None and gap[c0]:
                return [_Segment(run, true_rows, run.last_true_ms, None)]
            pending = run.first_false_ms if run.first_false_ms is not None else int(t[c0])
            if gaps_before[-1] > 0 or int(t[-1]) >= pending + _HOLD_MS:
                return [_Segment(run, true_rows, pending, None)]
            return [_Segment(run, true_rows, None, pending)]
        segments: list[_Segment] = []
        join = np.zeros(true_rows.size, dtype=bool)
        if true_rows.size > 1:
            p, j = true_rows[:-1], true_rows[1:]
            join[1:] = (gaps_before[j] == gaps_before[p]) & ((j == p + 1) | (t[j] - t[p + 1] < _HOLD_MS))
        if run is not None:
            j0 = int(true_rows[0])
            carried_false = run.first_false_ms
            if carried_false is None and j0 > c0:
                carried_false = int(t[c0])
            join[0] = gaps_before[j0] == 0 and (
                carried_false is None or int(t[j0]) - carried_false < _HOLD_MS
            )
            if not join[0]:
                if run.first_false_ms is not None:
                    end = run.first_false_ms
                elif gap[c0]:
                    end = run.last_true_ms
                else:
                    end = int(t[c0])
                segments.append(_Segment(run, true_rows[:0], end, None))
        edges = np.flatnonzero(~join).tolist()
        if join[0]:
            edges = [0, *edges]
        edges.append(true_rows.size)
        for k in range(len(edges) - 1):
            rows = true_rows[edges[k] : edges[k + 1]]
            last = int(rows[-1])
            first_false: int | None = None
            end_ms: int | None
            if last == m - 1:
                end_ms = None
            elif gap[last + 1]:
                end_ms = int(t[last])
            elif (
                k < len(edges) - 2
                or gaps_before[-1] > gaps_before[last + 1]
                or t[-1] >= t[last + 1] + _HOLD_MS
            ):
                end_ms = int(t[last + 1])
            else:
                end_ms, first_false = None, int(t[last + 1])
            segments.append(_Segment(run if (k == 0 and join[0]) else None, rows, end_ms, first_false))
        return segments

    def _new_run(self, r: int, row: int, chunk: _Chunk) -> _Run:
        ref = self._plan.rules[r]
        zone = self.zones[ref.zone_pos]
        cols = chunk.cols
        _, info = chunk.info(row)
        start = int(cols.t[row])
        return _Run(
            rule=r,
            incident_id=incident_id(zone.zone_id, ref.rule.id, self.vehicle_id, start),
            zone_pos=ref.zone_pos,
            start_ms=start,
            latitude=float(cols.lat[row]),
            longitude=float(cols.lon[row]),
            area=info.area[ref.local],
            explanation=info.explanation[ref.local],
            operator_id=str(cols.op[row]),
            vehicle_class=int(cols.cls[row]),
            detail=self._detail(ref, row, chunk),
            last_true_ms=start,
            accounted_ms=start,
        )

    def _detail(self, ref: _RuleRef, row: int, chunk: _Chunk) -> str:
        """What was observed at the start of a run, for the explanation."""
        rule, cols = ref.rule, chunk.cols
        if isinstance(rule, DrivingModeRule):
            return DRIVING_MODES[int(cols.mode[row])]
        if isinstance(rule, OperatingHoursRule):
            week_minute = int(chunk.minute[row])
            day = str(WEEKDAYS[week_minute // 1440])
            return f"{day} {week_minute % 1440 // 60:02d}:{week_minute % 60:02d}"
        if rule.kind == "permit":
            operator = str(cols.op[row])
            vehicle_class = VEHICLE_CLASSES[int(cols.cls[row])]
            permits = {op.id: op for op in self.zones[ref.zone_pos].config.operators}
            if operator not in permits:
                return f"operator {operator} (no permit in this zone) running a {vehicle_class}"
            classes = ", ".join(str(c) for c in permits[operator].vehicle_classes)
            return f"operator {operator} (permitted for {classes}) running a {vehicle_class}"
        return ""

    def _apply_segment(self, r: int, segment: _Segment, values: FloatArray | None, chunk: _Chunk) -> None:
        """Advance one run through its violating rows, emitting records at data-defined points."""
        rule = self._plan.rules[r].rule
        rows = segment.rows
        run = segment.run if segment.run is not None else self._new_run(r, int(rows[0]), chunk)
        out = chunk.out
        if rows.size:
            times = chunk.cols.t[rows]
            run.last_true_ms = int(times[-1])
            segment_values = values[rows] if values is not None else None
            checked = rows.size
            if not run.opened:
                side: Any = "right" if isinstance(rule, DwellRule) else "left"
                k = int(np.searchsorted(times, run.start_ms + _grace_ms(rule), side=side))
                if segment_values is not None:
                    run.peak = max(run.peak, float(segment_values[: k + 1].max()))
                if k < rows.size:
                    peak = run.peak if segment_values is not None else (int(times[k]) - run.start_ms) / 1000
                    run.opened = True
                    run.reported_peak = peak
                    out.incidents.append(self._run_record(run, "OPENED", None, peak, int(times[k])))
                    self._count_opened(run.zone_pos, run.operator_id, run.vehicle_class, run.start_ms, rule)
                    checked = k + 1
            elif segment_values is not None:
                checked = 0
            if run.opened and segment_values is not None and checked < rows.size:
                self._updates(run, segment_values[checked:], times[checked:], out)
            if run.opened:
                self._account(run, run.last_true_ms)
        if segment.end_ms is not None:
            if run.opened:
                self._account(run, segment.end_ms)
                peak = run.peak if values is not None else (segment.end_ms - run.start_ms) / 1000
                out.incidents.append(self._run_record(run, "CLOSED", segment.end_ms, peak, segment.end_ms))
            self._runs.pop(r, None)
        else:
            run.first_false_ms = segment.first_false_ms
            self._runs[r] = run

    def _updates(self, run: _Run, values: FloatArray, times: IntArray, out: EvaluationOutput) -> None:
        """UPDATED records wherever the running peak reaches ``UPDATE_RATIO`` x the last reported."""
        running_peak = np.maximum(np.maximum.accumulate(values), run.peak)
        position = 0
        while True:
            reported = run.reported_peak
            rest = running_peak[position:]
            if reported > 0:
                step = int(np.searchsorted(rest, reported * UPDATE_RATIO, side="left"))
            else:
                step = int(np.searchsorted(rest, reported, side="right"))
            position += step
            if position >= len(running_peak):
                break
            run.reported_peak = float(running_peak[position])
            out.incidents.append(
                self._run_record(run, "UPDATED", None, run.reported_peak, int(times[position]))
            )
            position += 1
        run.peak = max(run.peak, float(running_peak[-1]))

    def _run_record(
        self, run: _Run, status: str, end_ms: int | None, peak: float, at_ms: int
    ) -> IncidentRecord:
        ref = self._plan.rules[run.rule]
        observed = _observed(ref.rule, run, peak, _seconds(at_ms - run.start_ms))
        return self._record(
            status,
            ref,
            start_ms=run.start_ms,
            end_ms=end_ms,
            peak=peak,
            place=(run.longitude, run.latitude),
            area=run.area,
            operator=run.operator_id,
            vehicle_class=run.vehicle_class,
            explanation=f"{observed} where {run.explanation}",
        )

    def _record(
        self,
        status: str,
        ref: _RuleRef,
        *,
        start_ms: int,
        end_ms: int | None,
        peak: float | None,
        place: tuple[float, float],
        area: str | None,
        operator: str,
        vehicle_class: int,
        explanation: str,
        deadline_ms: int | None = None,
    ) -> IncidentRecord:
        zone = self.zones[ref.zone_pos]
        return IncidentRecord(
            incident_id=incident_id(zone.zone_id, ref.rule.id, self.vehicle_id, start_ms),
            status=status,
            pilot_zone=zone.zone_id,
            area=area,
            rule_id=ref.rule.id,
            kind=ref.rule.kind,
            severity=str(ref.rule.severity),
            vehicle_id=self.vehicle_id,
            operator_id=operator,
            start_ms=start_ms,
            end_ms=end_ms,
            peak_value=peak,
            latitude=place[1],
            longitude=place[0],
            config_version=zone.version,
            report_deadline_ms=deadline_ms,
            explanation=explanation,
            vehicle_class=VEHICLE_CLASSES[vehicle_class],
        )

    def _rule_ref(self, zone_pos: int, local: int) -> _RuleRef:
        return self._plan.rules[self._plan.first_rule[zone_pos] + local]

    def _gap_opened(self, last: _LastFix) -> IncidentRecord:
        """The OPENED record of a gap after ``last``; the same whichever way the gap was seen."""
        ref = self._plan.rules[last.gap_rule]
        self._count_opened(last.vehicle_zone, last.operator_id, last.vehicle_class, last.time_ms, ref.rule)
        return self._record(
            "OPENED",
            ref,
            start_ms=last.time_ms,
            end_ms=None,
            peak=None,
            place=(last.longitude, last.latitude),
            area=last.gap_area,
            operator=last.operator_id,
            vehicle_class=last.vehicle_class,
            explanation=(
                f"no fix for more than {_gap_limit(ref.rule)} s after this one where {last.gap_explanation}"
            ),
        )

    def _gap_incidents(self, chunk: _Chunk) -> None:
        cols = chunk.cols
        for i in np.flatnonzero(chunk.gap).tolist():
            zone_pos, info = chunk.info(i - 1)
            if info.gap_rule < 0:
                continue
            if i == chunk.c0 == 1 and self._last is not None:
                earlier = self._last
                if not self._gap_open:
                    chunk.out.incidents.append(self._gap_opened(earlier))
            else:
                earlier = self._fix(cols, i - 1, zone_pos, info)
                chunk.out.incidents.append(self._gap_opened(earlier))
            ref = self._plan.rules[earlier.gap_rule]
            seconds = (int(cols.t[i]) - earlier.time_ms) / 1000
            chunk.out.incidents.append(
                self._record(
                    "CLOSED",
                    ref,
                    start_ms=earlier.time_ms,
                    end_ms=int(cols.t[i]),
                    peak=seconds,
                    place=(earlier.longitude, earlier.latitude),
                    area=earlier.gap_area,
                    operator=earlier.operator_id,
                    vehicle_class=earlier.vehicle_class,
                    explanation=(
                        f"no fix for {seconds:g} s (more than {_gap_limit(ref.rule)} s) "
                        f"where {earlier.gap_explanation}"
                    ),
                )
            )
        self._gap_open = False

    def _fix(self, cols: _Columns, row: int, zone_pos: int, info: _GroupRules) -> _LastFix:
        first = self._plan.first_rule[zone_pos]
        return _LastFix(
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

    def _summarise(self, chunk: _Chunk, dt_ms: IntArray) -> None:
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
        window = cols.t[new] // self.window_ms
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
        for k, s in enumerate(starts.tolist()):
            row = c0 + s
            acc = self._acc(int(cols.vz[row]), str(cols.op[row]), int(cols.cls[row]), int(cols.t[row]))
            acc.samples += int(samples[k])
            acc.vehicle_ms += round(seconds[k])
            for mode_code in np.flatnonzero(by_mode[k]).tolist():
                acc.distance_mm[mode_code] = acc.distance_mm.get(mode_code, 0) + round(by_mode[k, mode_code])
            acc.disengagements += int(event_counts[0, k])
            acc.remote_takeovers += int(event_counts[1, k])

    def _crossings(self, chunk: _Chunk) -> None:
        """Restricted areas entered between two fixes that are both outside them."""
        cols = chunk.cols
        if len(cols.t) < 2:
            return
        lon, lat = cols.lon, cols.lat
        seg_minx, seg_maxx = np.minimum(lon[:-1], lon[1:]), np.maximum(lon[:-1], lon[1:])
        seg_miny, seg_maxy = np.minimum(lat[:-1], lat[1:]), np.maximum(lat[:-1], lat[1:])
        for zone_pos in sorted(set(cols.vz.tolist())):
            tables = self._plan.tables[zone_pos]
            for local, crossable in tables.crossable.items():
                minx, miny, maxx, maxy = crossable.bounds
                near = (seg_maxx >= minx) & (seg_minx <= maxx) & (seg_maxy >= miny) & (seg_miny <= maxy)
                later = np.flatnonzero(near) + 1
                if later.size == 0:
                    continue
                earlier = later - 1
                week = tables.week[local]
                keep = (
                    (cols.vz[earlier] == zone_pos)
                    & ~chunk.gap[later]
                    & tables.class_ok[local][cols.cls[earlier]]
                )
                if week is not None:
                    keep &= week[chunk.minute[earlier]]
                in_area = chunk.in_rule_area[:, self._plan.first_rule[zone_pos] + local]
                keep &= ~in_area[chunk.ginv[earlier]] & ~in_area[chunk.ginv[later]]
                later = later[keep]
                if later.size == 0:
                    continue
                starts = np.column_stack([lon[later - 1], lat[later - 1]])
                ends = np.column_stack([lon[later], lat[later]])
                lines = shapely.linestrings(np.stack([starts, ends], axis=1))
                hits = shapely.intersects(crossable.union, lines)
                for i, line in zip(later[hits].tolist(), lines[hits].tolist(), strict=True):
                    self._crossing(chunk, i, line, self._rule_ref(zone_pos, local), crossable)

    def _crossing(self, chunk: _Chunk, i: int, line: Any, ref: _RuleRef, crossable: _Crossable) -> None:
        """OPENED and CLOSED records of one crossing, unless it was shorter than the grace."""
        cols = chunk.cols
        zone = self.zones[ref.zone_pos]
        rule = ref.rule
        start_ms, end_ms = int(cols.t[i - 1]), int(cols.t[i])
        inside = float(shapely.length(shapely.intersection(line, crossable.union)) / shapely.length(line))
        inside_ms = round(inside * (end_ms - start_ms))
        if _grace_ms(rule) > 0 and inside_ms < _grace_ms(rule):
            return
        entries: list[tuple[float, str, FloatArray]] = []
        for area_id, geometry in zip(crossable.area_ids, crossable.geometries, strict=True):
            part = shapely.intersection(line, geometry)
            if part.is_empty:
                continue
            coordinates = shapely.get_coordinates(part)
            along = shapely.line_locate_point(line, shapely.points(coordinates))
            first = int(np.argmin(along))
            entries.append((float(along[first]), area_id, coordinates[first]))
        if not entries:
            return
        _, area_id, entry = min(entries, key=lambda e: (e[0], e[1]))
        local_time = _A_MONDAY + dt.timedelta(minutes=int(chunk.minute[i - 1]))
        vehicle_class = VEHICLE_CLASSES[int(cols.cls[i - 1])]
        applied = next(
            a
            for a in independent_rules(zone, "restricted_area", {area_id}, local_time, vehicle_class)
            if a.rule.id == rule.id
        )
        operator = str(cols.op[i - 1])
        explanation = (
            f"crossed {area_id} between two fixes {_seconds(end_ms - start_ms)} s apart, both outside it "
            f"(about {_seconds(inside_ms)} s inside on the straight line) where {applied.explanation}"
        )
        self._count_opened(ref.zone_pos, operator, int(cols.cls[i - 1]), start_ms, rule)
        for status, end in (("OPENED", None), ("CLOSED", end_ms)):
            chunk.out.incidents.append(
                self._record(
                    status,
                    ref,
                    start_ms=start_ms,
                    end_ms=end,
                    peak=inside_ms / 1000,
                    place=(float(entry[0]), float(entry[1])),
                    area=area_id,
                    operator=operator,
                    vehicle_class=int(cols.cls[i - 1]),
                    explanation=explanation,
                )
            )

    def _event_incidents(self, chunk: _Chunk) -> None:
        """One incident per vehicle_event rule and sample with a matching reported event."""
        batch, cols = chunk.zoned.batch, chunk.cols
        if len(batch.event_row) == 0:
            return
        position = np.full(len(batch), -1, dtype=np.int64)
        position[chunk.rows] = np.arange(chunk.c0, chunk.c0 + len(chunk.rows))
        event_position = position[batch.event_row]
        any_rule = np.zeros(len(EVENT_KINDS), dtype=bool)
        for zone_pos in set(cols.vz.tolist()):
            any_rule |= self._plan.tables[zone_pos].event_codes
        wanted = np.flatnonzero((event_position >= 0) & any_rule[batch.event_kind])
        seen: set[tuple[int, int]] = set()
        for e in wanted.tolist():
            row = int(event_position[e])
            zone_pos, info = chunk.info(row)
            kind, initiator = int(batch.event_kind[e]), int(batch.event_initiator[e])
            found = info.event_rule(self.zones[zone_pos], kind, initiator)
            if found is None or (row, found[0]) in seen:
                continue
            seen.add((row, found[0]))
            local, area, rule_explanation = found
            ref = self._rule_ref(zone_pos, local)
            rule = ref.rule
            assert isinstance(rule, VehicleEventRule)
            start = int(cols.t[row])
            deadline = None
            if rule.report_within_h is not None:
                deadline = start + round(rule.report_within_h * 3_600_000)
            by = "initiator not given" if initiator == NO_LEVEL else f"initiated by {INITIATORS[initiator]}"
            operator = str(cols.op[row])
            self._count_opened(zone_pos, operator, int(cols.cls[row]), start, rule)
            for status, end in (("OPENED", None), ("CLOSED", start)):
                chunk.out.incidents.append(
                    self._record(
                        status,
                        ref,
                        start_ms=start,
                        end_ms=end,
                        peak=None,
                        place=(float(cols.lon[row]), float(cols.lat[row])),
                        area=area,
                        operator=operator,
                        vehicle_class=int(cols.cls[row]),
                        explanation=f"{EVENT_KINDS[kind]} reported ({by}) where {rule_explanation}",
                        deadline_ms=deadline,
                    )
                )


# --- small helpers -------------------------------------------------------------------------


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


def _offset_ms(tz: ZoneInfo, hour: int) -> int:
    offset = dt.datetime.fromtimestamp(hour * 3600, tz=tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() * 1000)


def _grace_ms(rule: Rule) -> int:
    if isinstance(rule, DwellRule):
        return round(rule.max_dwell_s * 1000)
    grace = getattr(rule, "grace_s", 0.0)
    return round(float(grace) * 1000)


def _gap_limit(rule: Rule) -> str:
    return f"{rule.max_gap_s:g}" if isinstance(rule, TelemetryGapRule) else "?"


def _seconds(ms: int) -> str:
    """Milliseconds as seconds without trailing zeros: 14000 -> "14", 1500 -> "1.5"."""
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".")


def _number(value: float) -> str:
    """One decimal, without a trailing ".0"."""
    return f"{value:.1f}".removesuffix(".0")


def _observed(rule: Rule, run: _Run, peak: float, duration: str) -> str:
    """What the vehicle did, as the first half of an explanation."""
    if isinstance(rule, SpeedLimitRule):
        return f"{_number(rule.limit_kmh + peak)} km/h ({_number(peak)} km/h over the limit) for {duration} s"
    if rule.kind == "leave_boundary":
        return f"{_number(peak)} m outside the zone boundary for {duration} s"
    if isinstance(rule, RestrictedAreaRule):
        return f"inside {run.area} for {duration} s"
    if isinstance(rule, OperatingHoursRule):
        return f"driving from {run.detail} local time, outside the permitted hours, for {duration} s"
    if isinstance(rule, DrivingModeRule):
        return f"driving mode {run.detail} for {duration} s"
    if isinstance(rule, DwellRule):
        return f"stopped (below {rule.stopped_below_kmh:g} km/h) for {duration} s"
    return f"{run.detail} for {duration} s"
