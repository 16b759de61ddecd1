"""The figures of one zone and period: per operator and vehicle class, for the whole zone, over time.

Everything is summed from the run's one-minute window summaries, so a report says exactly what
the summaries and the Prometheus metrics say. A window belongs to the period when it starts in
it; an incident when it starts in it. Rates are per 1,000 km driven in AUTONOMOUS mode, the
exposure the disengagement statistics of pilot programmes are quoted against.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pilotzone.pipelines.metrics.export import parse_rfc3339_ms

ALL = "all"
"""The operator and class of the zone's total row."""

DRIVING_MODES = (
    "AUTONOMOUS",
    "MANUAL",
    "REMOTE_OPERATED",
    "MINIMAL_RISK_MANOEUVRE",
    "DISENGAGING",
    "UNKNOWN",
)
"""Driving modes in the order tables list them."""

SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "INFO")


@dataclass(frozen=True)
class Period:
    """A half-open interval of Unix ms, [start, end)."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("the period must end after it starts (--to after --from)")

    def contains(self, time_ms: int) -> bool:
        """Whether ``time_ms`` falls in the period."""
        return self.start_ms <= time_ms < self.end_ms


def parse_time(text: str) -> int:
    """Unix ms of an ISO 8601 time; a time without offset is UTC, a bare date is its midnight UTC."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return round(moment.timestamp() * 1000)


def run_period(summaries: Sequence[dict[str, Any]], incidents: Sequence[dict[str, Any]]) -> Period | None:
    """The span the run covers: first window start (or incident) to last window end (or incident)."""
    starts = [parse_rfc3339_ms(row["window_start"]) for row in summaries]
    ends = [parse_rfc3339_ms(row["window_end"]) for row in summaries]
    starts += [parse_rfc3339_ms(row["start_time"]) for row in incidents]
    ends += [parse_rfc3339_ms(row["start_time"]) + 1 for row in incidents]
    if not starts:
        return None
    return Period(min(starts), max(ends))


@dataclass
class GroupFigures:
    """What one operator's vehicles of one class did in the period (or the zone's total)."""

    operator: str
    vehicle_class: str
    samples: int = 0
    vehicle_seconds: float = 0.0
    violation_seconds: float = 0.0
    distance_m_by_mode: Counter[str] = field(default_factory=Counter)
    incidents: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(kind, severity) -> incidents opened (from the summaries, which know the class)."""
    disengagements: int = 0
    remote_takeovers: int = 0
    min_vehicles: int = 0
    """Most vehicles active in one window: a lower bound of the distinct vehicles in the group
    (the summaries count vehicles per window, not across windows)."""

    def add(self, row: dict[str, Any]) -> None:
        """Add one window summary row."""
        self.samples += row["samples"]
        self.vehicle_seconds += row["vehicle_seconds"]
        self.violation_seconds += sum(row["violation_s_by_rule"].values())
        self.distance_m_by_mode.update(row["distance_m_by_mode"])
        for key, count in row["incidents_opened"].items():
            kind, severity = key.split("/", 1)
            self.incidents[(kind, severity)] += count
        self.disengagements += row["disengagements"]
        self.remote_takeovers += row["remote_takeovers"]
        self.min_vehicles = max(self.min_vehicles, row["active_vehicles"])

    def merge(self, other: GroupFigures) -> None:
        """Add another group's figures (for the zone's total; groups hold disjoint vehicles)."""
        self.samples += other.samples
        self.vehicle_seconds += other.vehicle_seconds
        self.violation_seconds += other.violation_seconds
        self.distance_m_by_mode.update(other.distance_m_by_mode)
        self.incidents.update(other.incidents)
        self.disengagements += other.disengagements
        self.remote_takeovers += other.remote_takeovers

    def km(self, mode: str | None = None) -> float:
        """Kilometres driven, in one driving mode or in all."""
        metres = (
            sum(self.distance_m_by_mode.values()) if mode is None else self.distance_m_by_mode.get(mode, 0.0)
        )
        return metres / 1000

    @property
    def compliance_ratio(self) -> float | None:
        """1 - violation seconds / vehicle seconds (None without vehicle time). A lower bound:
        a vehicle breaking two rules at once counts twice, as in the Prometheus recording rule."""
        if self.vehicle_seconds <= 0:
            return None
        return max(0.0, 1 - self.violation_seconds / self.vehicle_seconds)

    def per_1000_autonomous_km(self, count: int) -> float | None:
        """``count`` per 1,000 autonomous km (None without autonomous distance)."""
        autonomous_km = self.km("AUTONOMOUS")
        return None if autonomous_km <= 0 else count / autonomous_km * 1000

    @property
    def incident_count(self) -> int:
        """Incidents opened, all kinds."""
        return sum(self.incidents.values())


def zone_rows(summaries: Iterable[dict[str, Any]], zone_id: str, period: Period) -> list[dict[str, Any]]:
    """The summary rows of one zone whose window starts in the period."""
    return [
        row
        for row in summaries
        if row["pilot_zone"] == zone_id and period.contains(parse_rfc3339_ms(row["window_start"]))
    ]


def group_figures(rows: Iterable[dict[str, Any]]) -> list[GroupFigures]:
    """One ``GroupFigures`` per operator and vehicle class, sorted by both."""
    groups: dict[tuple[str, str], GroupFigures] = {}
    for row in rows:
        key = (row["operator"], row["vehicle_class"])
        groups.setdefault(key, GroupFigures(*key)).add(row)
    return [groups[key] for key in sorted(groups)]


def zone_total(groups: Sequence[GroupFigures], rows: Iterable[dict[str, Any]]) -> GroupFigures:
    """The zone's total row; its vehicle bound is the most vehicles active in one window."""
    total = GroupFigures(ALL, ALL)
    for group in groups:
        total.merge(group)
    per_window: Counter[str] = Counter()
    for row in rows:
        per_window[row["window_start"]] += row["active_vehicles"]
    total.min_vehicles = max(per_window.values(), default=0)
    return total


def zone_incidents(incidents: Iterable[dict[str, Any]], zone_id: str, period: Period) -> list[dict[str, Any]]:
    """The incidents of one zone that started in the period, by start time and id."""
    chosen = [
        row
        for row in incidents
        if row["pilot_zone"] == zone_id and period.contains(parse_rfc3339_ms(row["start_time"]))
    ]
    return sorted(chosen, key=lambda row: (row["start_time"], row["incident_id"]))


BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 96


def bucket_seconds(period: Period) -> int:
    """The shortest bucket that splits the period into at most ``MAX_BUCKETS`` (a chart's bars)."""
    span_s = (period.end_ms - period.start_ms) / 1000
    return next((size for size in BUCKETS_S if span_s / size <= MAX_BUCKETS), BUCKETS_S[-1])


@dataclass
class Bucket:
    """The zone's figures in one time bucket of a chart."""

    start_ms: int
    samples: int = 0
    km: float = 0.0
    autonomous_km: float = 0.0
    vehicle_seconds: float = 0.0
    violation_seconds: float = 0.0
    incidents: int = 0
    min_vehicles: int = 0
    """Most vehicles active in one window of the bucket (a lower bound of its distinct vehicles)."""
    incident_vehicles: set[str] = field(default_factory=set)
    """Vehicles whose incidents started in the bucket (from the incident log)."""

    @property
    def compliance_ratio(self) -> float | None:
        """As ``GroupFigures.compliance_ratio``, for the bucket."""
        if self.vehicle_seconds <= 0:
            return None
        return max(0.0, 1 - self.violation_seconds / self.vehicle_seconds)


def time_series(
    rows: Sequence[dict[str, Any]], incidents: Sequence[dict[str, Any]], period: Period
) -> list[Bucket]:
    """The zone's figures per bucket over the whole period, empty buckets included."""
    size_ms = bucket_seconds(period) * 1000
    first = period.start_ms - period.start_ms % size_ms
    buckets = [Bucket(start) for start in range(first, period.end_ms, size_ms)]
    per_window: Counter[tuple[int, str]] = Counter()
    for row in rows:
        start = parse_rfc3339_ms(row["window_start"])
        bucket = buckets[(start - first) // size_ms]
        bucket.samples += row["samples"]
        bucket.km += sum(row["distance_m_by_mode"].values()) / 1000
        bucket.autonomous_km += row["distance_m_by_mode"].get("AUTONOMOUS", 0.0) / 1000
        bucket.vehicle_seconds += row["vehicle_seconds"]
        bucket.violation_seconds += sum(row["violation_s_by_rule"].values())
        per_window[((start - first) // size_ms, row["window_start"])] += row["active_vehicles"]
    for (index, _window), vehicles in per_window.items():
        buckets[index].min_vehicles = max(buckets[index].min_vehicles, vehicles)
    for incident in incidents:
        bucket = buckets[(parse_rfc3339_ms(incident["start_time"]) - first) // size_ms]
        bucket.incidents += 1
        bucket.incident_vehicles.add(incident["vehicle_id"])
    return buckets
