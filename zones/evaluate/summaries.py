"""Window summaries: additive per-window partials, and the integer accumulators behind them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pilotzone.schemas.batch import DRIVING_MODES, VEHICLE_CLASSES


def _thousandths(value: float) -> int:
    return round(value * 1000)


SummaryKey = tuple[str, str, str, str, int]
"""(pilot zone, config version, operator id, vehicle class, window start ms)."""


@dataclass
class WindowSummary:
    """Additive partial of one (pilot_zone, config version, operator, vehicle class, window).

    Seconds and metres are multiples of 1/1000 (ms, mm) and ``merge`` adds them as integers,
    so merging is exactly associative and commutative, and totals do not depend on the order
    in which a runner combines partials.

    ``config_version`` is the zone-config version that judged the samples, as on incidents: a
    window that straddles a version change (``zones.history``) has one summary per version,
    whose figures add up to the window's. A vehicle that drove under both versions in one
    window is among the ``vehicle_ids`` of the first only (``zones.evaluate.epochs``), so
    active vehicles add up too.
    """

    pilot_zone: str
    config_version: str
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
    def key(self) -> SummaryKey:
        """What partials are merged by."""
        return (
            self.pilot_zone,
            self.config_version,
            self.operator_id,
            self.vehicle_class,
            self.window_start_ms,
        )

    def merge(self, other: WindowSummary) -> WindowSummary:
        """The sum of two partials of the same key (a new object; neither input changes)."""
        return sum_partials((self, other))


def sum_partials(partials: Iterable[WindowSummary]) -> WindowSummary:
    """The sum of partials of one key, equal to merging them pairwise in any order.

    Pairwise ``merge`` copies the growing vehicle set and dicts at every step, which is
    quadratic in the partials of a key (one per vehicle and window); this adds the integer
    thousandths of each figure once and builds one summary.
    """
    items = iter(partials)
    first = next(items, None)
    if first is None:
        raise ValueError("sum_partials needs at least one partial")
    samples, disengagements, remote_takeovers = first.samples, first.disengagements, first.remote_takeovers
    vehicle_ms = _thousandths(first.vehicle_seconds)
    vehicles = set(first.vehicle_ids)
    distance = {mode: _thousandths(value) for mode, value in first.distance_m_by_mode.items()}
    violation = {rule: _thousandths(value) for rule, value in first.violation_s_by_rule.items()}
    opened = dict(first.incidents_opened)
    for other in items:
        if other.key != first.key:
            raise ValueError(f"cannot merge window summaries of different keys: {first.key} and {other.key}")
        samples += other.samples
        disengagements += other.disengagements
        remote_takeovers += other.remote_takeovers
        vehicle_ms += _thousandths(other.vehicle_seconds)
        vehicles.update(other.vehicle_ids)
        for mode, value in other.distance_m_by_mode.items():
            distance[mode] = distance.get(mode, 0) + _thousandths(value)
        for rule, value in other.violation_s_by_rule.items():
            violation[rule] = violation.get(rule, 0) + _thousandths(value)
        for kind, count in other.incidents_opened.items():
            opened[kind] = opened.get(kind, 0) + count
    return WindowSummary(
        pilot_zone=first.pilot_zone,
        config_version=first.config_version,
        operator_id=first.operator_id,
        vehicle_class=first.vehicle_class,
        window_start_ms=first.window_start_ms,
        samples=samples,
        vehicle_ids=frozenset(vehicles),
        vehicle_seconds=vehicle_ms / 1000,
        distance_m_by_mode={mode: mm / 1000 for mode, mm in sorted(distance.items())},
        violation_s_by_rule={rule: ms / 1000 for rule, ms in sorted(violation.items())},
        incidents_opened=dict(sorted(opened.items())),
        disengagements=disengagements,
        remote_takeovers=remote_takeovers,
    )


def sum_by_key(partials: Iterable[WindowSummary]) -> list[WindowSummary]:
    """Partials of many keys summed per key (``sum_partials``), in key order."""
    by_key: dict[SummaryKey, list[WindowSummary]] = {}
    for partial in partials:
        by_key.setdefault(partial.key, []).append(partial)
    return [sum_partials(by_key[key]) for key in sorted(by_key)]


@dataclass
class WindowAccumulator:
    """Integer accumulators of one window partial (ms and mm, so sums are exact)."""

    samples: int = 0
    vehicle_ms: int = 0
    distance_mm: dict[int, int] = field(default_factory=dict)
    violation_ms: dict[str, int] = field(default_factory=dict)
    opened: dict[tuple[str, str], int] = field(default_factory=dict)
    disengagements: int = 0
    remote_takeovers: int = 0


WindowKey = tuple[int, str, int, int]
"""(vehicle zone position, operator id, vehicle class code, window start ms)."""


class Windows:
    """One vehicle's window partials not yet emitted (picklable: it travels in Beam state)."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.open: dict[WindowKey, WindowAccumulator] = {}

    def __bool__(self) -> bool:
        return bool(self.open)

    def at(self, zone_pos: int, operator: str, cls: int, time_ms: int) -> WindowAccumulator:
        """The accumulator of the window holding ``time_ms`` (created when first needed)."""
        start = time_ms - time_ms % self.window_ms
        key = (zone_pos, operator, cls, start)
        acc = self.open.get(key)
        if acc is None:
            acc = self.open[key] = WindowAccumulator()
        return acc

    def add_violation(  # noqa: PLR0917 - the run's key, its rule and the span
        self, zone_pos: int, operator: str, cls: int, rule_id: str, start_ms: int, until_ms: int
    ) -> None:
        """Add violation time ``[start_ms, until_ms)`` of a rule, clipped to windows."""
        start = start_ms
        while start < until_ms:
            window_end = start - start % self.window_ms + self.window_ms
            piece_end = min(until_ms, window_end)
            acc = self.at(zone_pos, operator, cls, start)
            acc.violation_ms[rule_id] = acc.violation_ms.get(rule_id, 0) + piece_end - start
            start = piece_end

    def count_opened(  # noqa: PLR0917 - the window's key, then what was opened
        self, zone_pos: int, operator: str, cls: int, start_ms: int, kind: str, severity: str
    ) -> None:
        """Count an incident opened at ``start_ms``, by kind and severity."""
        acc = self.at(zone_pos, operator, cls, start_ms)
        key = (kind, severity)
        acc.opened[key] = acc.opened.get(key, 0) + 1

    def pop(
        self, zones: Sequence[tuple[str, str]], vehicle_id: str, safe_ms: int | None
    ) -> list[WindowSummary]:
        """Remove and return the windows that end by ``safe_ms`` (None: all), in key order;
        ``zones`` are the (zone id, config version) of the zone positions."""
        if safe_ms is None:
            ready = sorted(self.open)
        else:
            ready = sorted(key for key in self.open if key[3] + self.window_ms <= safe_ms)
        return [_summary(key, self.open.pop(key), zones, vehicle_id) for key in ready]


def _summary(
    key: WindowKey, acc: WindowAccumulator, zones: Sequence[tuple[str, str]], vehicle_id: str
) -> WindowSummary:
    zone_pos, operator, cls, start = key
    zone_id, version = zones[zone_pos]
    return WindowSummary(
        pilot_zone=zone_id,
        config_version=version,
        operator_id=operator,
        vehicle_class=VEHICLE_CLASSES[cls],
        window_start_ms=start,
        samples=acc.samples,
        vehicle_ids=frozenset({vehicle_id}) if acc.samples else frozenset(),
        vehicle_seconds=acc.vehicle_ms / 1000,
        distance_m_by_mode={DRIVING_MODES[m]: mm / 1000 for m, mm in sorted(acc.distance_mm.items())},
        violation_s_by_rule={r: ms / 1000 for r, ms in sorted(acc.violation_ms.items())},
        incidents_opened=dict(sorted(acc.opened.items())),
        disengagements=acc.disengagements,
        remote_takeovers=acc.remote_takeovers,
    )
