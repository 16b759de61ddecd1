"""A fleet simulator that writes telemetry the way vehicles upload it, with a ground truth.

The monitor is tested against data whose violations are known exactly. Real fleets cannot
provide that (nobody knows every incident a real fleet had), so this module drives simulated
vehicles through a loaded zone and writes:

* one Avro object container file per vehicle per time slice, as vehicles upload them,
  ``telemetry/<zone_id>/<slice start, 20261123T010000Z>/<vehicle_id>.avro``;
* ``ground_truth.jsonl``, one line per violation or reported event the data contains;
* ``manifest.json``: the options, seed, zone and schema versions, what was written, what was
  injected per rule kind and what could not be injected and why.

Baseline vehicles keep every rule: they drive inside the boundary and away from every area
whose rules they could break, below the lowest speed limit that applies to their class, and
they neither stop too long nor fall silent. Chosen vehicles then get one violation per
injected rule kind, built from the zone's own parameters (limit, grace, max gap, areas).

The ground truth is not what the simulator *meant* to do but what the written samples
contain: every track is checked by an evaluator that applies the zone's rules (with the
precedence of ``zones.rules``) to the reported values. A baseline track with a finding, or
an injection that did not come out as a clear violation (for example a run that lasts
almost exactly its grace period, where two honest engines may disagree), is generated again
from the vehicle's own random stream. A ground truth made this way cannot claim a violation
that is not in the data, nor miss one that is.

Everything is deterministic for a seed: each vehicle draws from its own generator seeded by
(seed, zone, vehicle index) and each file's sync marker is derived from the same, so the
output is byte-identical whatever the number of worker processes. Vehicles are generated,
checked and written one at a time, so memory does not grow with the fleet.

This module is pure Python, numpy, shapely and fastavro: no Apache Beam.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import json
import math
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from pilotzone import geo
from pilotzone.schemas.contract import TELEMETRY, schema_dict, schema_version, telemetry_schema, writer_schema
from pilotzone.zones import Zone
from pilotzone.zones.model import (
    RULE_KINDS,
    DrivingMode,
    DrivingModeRule,
    DwellRule,
    EventKind,
    Initiator,
    LeaveBoundaryRule,
    OperatingHoursRule,
    PermitRule,
    RestrictedAreaRule,
    Rule,
    SpeedLimitRule,
    TelemetryGapRule,
    VehicleEventRule,
)
from pilotzone.zones.rules import AppliedRule, rule_applies_to, week_minutes, winning_rule

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_INJECT_RATES: dict[str, float] = {
    "speed_limit": 0.05,
    "leave_boundary": 0.02,
    "restricted_area": 0.03,
    "operating_hours": 0.02,
    "telemetry_gap": 0.03,
    "driving_mode": 0.02,
    "dwell": 0.03,
    "permit": 0.02,
    "vehicle_event": 0.05,
}
"""Fraction of each zone's vehicles that get one violation of each rule kind."""

DEFECT_KINDS: tuple[str, ...] = ("nan", "out_of_range", "duplicate_sequence", "time_backwards")
"""Contract defects ``--defects`` injects, named like the validator's checks (``schemas.checks``)."""

DEFAULT_LOCAL_START = dt.datetime(2026, 11, 23, 10, 0)
"""A Monday 10:00 in each zone's own timezone: inside any sensible daytime operating hours."""

GROUND_TRUTH_FILE = "ground_truth.jsonl"
MANIFEST_FILE = "manifest.json"
TELEMETRY_DIR = "telemetry"
SLICE_FORMAT = "%Y%m%dT%H%M%SZ"

_CODEC_CANDIDATES = ("null", "deflate", "snappy", "zstandard", "lz4", "bzip2", "xz")
_MODES: tuple[str, ...] = tuple(mode.value for mode in DrivingMode)
_MODE_CODE = {mode: code for code, mode in enumerate(_MODES)}
_AUTONOMOUS = _MODE_CODE["AUTONOMOUS"]
_MANUAL = _MODE_CODE["MANUAL"]
_MAX_ATTEMPTS = 8
_MARGIN_M = 30.0
"""How far baseline tracks keep from the boundary and from areas they avoid: corner smoothing
plus several sigma of GPS noise."""
_SPEED_MARGIN_KMH = 3.0
_DS_M = 1.0
"""Spacing of the dense route points the motion is computed on."""


class SimulationError(ValueError):
    """Options or zones the simulator cannot work with; the message says what to change."""


@dataclass(frozen=True)
class SimulationOptions:
    """What to simulate. ``start`` None means ``DEFAULT_LOCAL_START`` in each zone's timezone;
    a naive ``start`` is read in the zone's timezone too."""

    vehicles: int
    duration_s: float
    rate_hz: float
    seed: int
    start: dt.datetime | None = None
    slice_s: int = 60
    codec: str = "deflate"
    inject: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_INJECT_RATES))
    defects: float = 0.0
    workers: int = 1

    def problems(self) -> list[str]:
        """Every reason these options cannot run, phrased as what to change."""
        found: list[str] = []
        if self.vehicles < 1:
            found.append(f"--vehicles {self.vehicles}: simulate at least 1 vehicle")
        if not self.rate_hz > 0 or self.rate_hz > 100:
            found.append(f"--rate {self.rate_hz}: give a sampling rate in Hz between 0 and 100")
        elif not self.duration_s * self.rate_hz >= 2:
            found.append(f"--duration {self.duration_s}: give a duration of at least two samples")
        if self.slice_s < 1:
            found.append(f"--slice {self.slice_s}: give a slice length of at least 1 second")
        if self.codec not in available_codecs():
            found.append(f"--codec {self.codec}: choose one of {', '.join(available_codecs())}")
        for kind, rate in self.inject.items():
            if kind not in RULE_KINDS:
                found.append(f"--inject {kind}: unknown rule kind; use one of {', '.join(RULE_KINDS)} or all")
            elif not 0.0 <= rate <= 1.0:
                found.append(f"--inject {kind}={rate}: give a fraction of vehicles between 0 and 1")
        if not 0.0 <= self.defects <= 1.0:
            found.append(f"--defects {self.defects}: give a fraction of vehicles between 0 and 1")
        if self.workers < 1:
            found.append(f"--workers {self.workers}: use at least 1 worker")
        return found

    @property
    def samples_per_vehicle(self) -> int:
        """Samples each vehicle would send without gaps."""
        return math.floor(self.duration_s * self.rate_hz + 1e-9)


@dataclass(frozen=True)
class Progress:
    """How far a run is, for a progress line."""

    vehicles_done: int
    vehicles_total: int
    samples_written: int
    elapsed_s: float

    @property
    def samples_per_s(self) -> float:
        """Written samples per wall-clock second so far."""
        return self.samples_written / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first vehicle is done."""
        if self.vehicles_done == 0:
            return None
        return self.elapsed_s * (self.vehicles_total - self.vehicles_done) / self.vehicles_done


def available_codecs() -> tuple[str, ...]:
    """Avro codecs fastavro can write here: the built-in ones and those whose package is installed."""
    return _available_codecs()


def parse_inject(specs: Sequence[str]) -> dict[str, float]:
    """``["all=0.1", "speed_limit=0.5"]`` as rates per kind over the defaults.

    ``all`` sets every kind first, whatever its position, so a specific kind always wins.
    """
    rates = dict(DEFAULT_INJECT_RATES)
    specific: dict[str, float] = {}
    for spec in specs:
        kind, sep, value = spec.partition("=")
        kind = kind.strip()
        if not sep:
            raise SimulationError(f"--inject {spec!r}: write KIND=RATE, for example speed_limit=0.05")
        try:
            rate = float(value)
        except ValueError:
            raise SimulationError(f"--inject {spec!r}: {value!r} is not a number") from None
        if kind == "all":
            rates = dict.fromkeys(RULE_KINDS, rate)
        elif kind in RULE_KINDS:
            specific[kind] = rate
        else:
            raise SimulationError(
                f"--inject {spec!r}: unknown rule kind; use one of {', '.join(RULE_KINDS)} or all"
            )
    rates.update(specific)
    return rates


def default_start(zone: Zone) -> dt.datetime:
    """The default start of a run in a zone: ``DEFAULT_LOCAL_START`` on the zone's clock."""
    return DEFAULT_LOCAL_START.replace(tzinfo=zone.config.tz)


def simulate(
    zones: Sequence[Zone],
    options: SimulationOptions,
    out_dir: str | Path,
    *,
    progress: Callable[[Progress], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Simulate ``options.vehicles`` vehicles in each zone and write files, ground truth and manifest.

    Returns the manifest. ``progress`` is called after vehicles complete (at most every ~1.5 s
    and once at the end); ``warn`` receives one line per thing that could not be done as asked
    (a rule kind that cannot be injected in a zone, injections that failed). Raises
    ``SimulationError`` before writing anything if the options or zones cannot work.
    """
    problems = options.problems()
    if not zones:
        problems.append("no zones to simulate: pass a zone config file or folder")
    if problems:
        raise SimulationError("\n".join(problems))
    out = Path(out_dir)
    if (out / MANIFEST_FILE).exists() or (out / TELEMETRY_DIR).exists():
        raise SimulationError(f"{out} already holds a simulation: choose an empty or new --out folder")
    say = warn or (lambda _message: None)
    clean_zones = [dataclasses.replace(zone) for zone in zones]
    models = [_ZoneModel(zone, options) for zone in clean_zones]
    plans: list[_ZonePlan] = []
    for pos, model in enumerate(models):
        plans.append(_plan_zone(model, options, pos))
        for kind, reason in plans[-1].not_injectable.items():
            say(f"{model.zone.zone_id}: {kind} not injectable: {reason}")
    tasks = [task for plan in plans for task in plan.tasks]
    out.mkdir(parents=True, exist_ok=True)
    totals = _Totals(zones=[_ZoneTotals() for _ in zones])
    started = time.monotonic()
    last_report = started
    with (out / GROUND_TRUTH_FILE).open("w", encoding="utf-8", newline="\n") as ground_truth:
        for done, result in enumerate(_run_tasks(models, options, out, tasks), start=1):
            ground_truth.writelines(line + "\n" for line in result.ground_truth)
            totals.add(result)
            now = time.monotonic()
            if progress is not None and (now - last_report >= 1.5 or done == len(tasks)):
                progress(Progress(done, len(tasks), totals.samples, now - started))
                last_report = now
    for plan, zone_totals in zip(plans, totals.zones, strict=True):
        for kind, count in sorted(zone_totals.failed.items()):
            say(
                f"{plan.model.zone.zone_id}: {kind} could not be injected in {count} of "
                f"{plan.requested.get(kind, 0)} vehicles: {'; '.join(sorted(zone_totals.failed_reasons[kind]))}"
            )
    manifest = _manifest(options, plans, totals)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


# --- vehicle classes -----------------------------------------------------------------------


@dataclass(frozen=True)
class _ClassProfile:
    """How a class of vehicle typically moves; speeds in km/h, accelerations in m/s²."""

    cruise_kmh: tuple[float, float]
    max_kmh: float
    accel: float
    decel: float
    lateral: float
    leg_m: tuple[float, float]
    smooth_m: float
    stop_every_m: tuple[float, float]
    stop_s: tuple[float, float]
    has_driver: bool
    weight: float


_PROFILES: dict[str, _ClassProfile] = {
    # Robotaxis and cars stop for pick-ups and traffic lights; buses and shuttles at stops.
    "ROBOTAXI": _ClassProfile((25, 45), 90, 2.0, 2.5, 2.0, (150, 900), 16, (600, 2000), (5, 40), True, 0.33),
    "CAR": _ClassProfile((25, 48), 100, 2.0, 2.5, 2.0, (150, 1000), 16, (800, 2500), (5, 30), True, 0.12),
    "SHUTTLE": _ClassProfile((15, 28), 40, 1.0, 1.2, 1.2, (150, 600), 12, (250, 600), (15, 40), True, 0.12),
    "BUS": _ClassProfile((25, 42), 70, 1.2, 1.5, 1.3, (200, 900), 18, (350, 800), (20, 45), True, 0.1),
    "TRUCK": _ClassProfile((25, 45), 80, 1.0, 1.5, 1.5, (200, 1000), 18, (1000, 3000), (10, 40), True, 0.1),
    # Delivery robots share sidewalks at walking pace and stop at doors.
    "DELIVERY_ROBOT": _ClassProfile(
        (4, 6), 20, 0.5, 0.8, 0.5, (40, 250), 4, (150, 500), (15, 90), False, 0.15
    ),
    "PARKING_ROBOT": _ClassProfile((3, 8), 15, 0.5, 0.8, 0.5, (20, 120), 4, (60, 250), (10, 60), False, 0.08),
}


# --- the zone as the simulator sees it -----------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """A local east/north metre frame around the zone: an affine map of lon/lat.

    Being affine, it maps a point inside a polygon to a point inside the mapped polygon, so
    geometry can be buffered in metres for planning while checks stay in lon/lat.
    """

    lon0: float
    lat0: float
    kx: float
    ky: float

    def to_local(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def to_lonlat(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self.lon0 + x / self.kx, self.lat0 + y / self.ky

    def geometry(self, geometry: BaseGeometry) -> BaseGeometry:
        def project(coords: FloatArray) -> FloatArray:
            return np.column_stack(
                ((coords[:, 0] - self.lon0) * self.kx, (coords[:, 1] - self.lat0) * self.ky)
            )

        return shapely.transform(geometry, project)


@dataclass
class _Policy:
    """What a vehicle class may do in a zone during the simulated window without a finding."""

    vehicle_class: str
    profile: _ClassProfile
    operators: tuple[str, ...]
    cap_kmh: float
    modes: tuple[int, ...]
    max_stop_s: float
    avoid: dict[str, frozenset[str]]
    """Areas the class keeps out of, each with why: "restricted", "speed", "mode", "hours"."""
    region: BaseGeometry
    region_m2: float
    hours_ok: bool
    problems: list[str]

    @property
    def drivable(self) -> bool:
        """Whether the class can drive here at all without breaking a rule other than hours."""
        return not self.problems

    @property
    def compliant(self) -> bool:
        """Whether a vehicle of the class can keep every rule for the whole window."""
        return self.drivable and self.hours_ok and bool(self.operators)


class _ZoneModel:
    """A zone with its geometry in both frames, the simulated time grid and rule lookups."""

    def __init__(self, zone: Zone, options: SimulationOptions) -> None:
        self.zone = zone
        self.options = options
        start = options.start or default_start(zone)
        if start.tzinfo is None:
            start = start.replace(tzinfo=zone.config.tz)
        self.start = start
        self.start_ms = round(start.timestamp() * 1000)
        self.n = options.samples_per_vehicle
        self.rate = options.rate_hz
        self.t_ms: IntArray = self.start_ms + np.rint(np.arange(self.n) * (1000.0 / self.rate)).astype(
            np.int64
        )
        self.end_ms = self.start_ms + round(self.n * 1000.0 / self.rate)
        centroid = zone.boundary.centroid
        per_deg = math.pi * geo.EARTH_RADIUS_M / 180.0
        self.frame = _Frame(centroid.x, centroid.y, per_deg * math.cos(math.radians(centroid.y)), per_deg)
        self.area_ids: tuple[str, ...] = tuple(zone.areas)
        self.boundary_ll = zone.boundary
        self.areas_ll = [zone.areas[a].geometry for a in self.area_ids]
        for geometry in (self.boundary_ll, *self.areas_ll):
            shapely.prepare(geometry)
        self.boundary_local = self.frame.geometry(zone.boundary)
        self.areas_local = {a: self.frame.geometry(zone.areas[a].geometry) for a in self.area_ids}
        self.inner_boundary = self.boundary_local.buffer(-_MARGIN_M)
        self._init_time()
        self._winners: dict[tuple[Any, ...], AppliedRule | None] = {}
        self._policies: dict[str, _Policy] = {}
        self._regions: dict[tuple[str, str], BaseGeometry] = {}
        self._permitted: dict[str, BoolArray] = {}

    def _init_time(self) -> None:
        """Minutes of the window, their local minute of the week, and schedule states."""
        tz = self.zone.config.tz
        self.minute0 = self.start_ms // 60_000
        count = int((self.end_ms - 1) // 60_000 - self.minute0 + 1)
        local = [
            dt.datetime.fromtimestamp((self.minute0 + i) * 60.0, tz).replace(tzinfo=None)
            for i in range(count)
        ]
        self.minute_of_week = np.array(
            [t.weekday() * 1440 + t.hour * 60 + t.minute for t in local], dtype=np.int64
        )
        scheduled = [week_minutes(rule.applies.schedule) for rule in self.zone.rules if rule.applies.schedule]
        state_ids: dict[tuple[bool, ...], int] = {}
        self.state_time: list[dt.datetime] = []
        states = np.empty(count, dtype=np.int64)
        for i, when in enumerate(local):
            key = tuple(bool(minutes[self.minute_of_week[i]]) for minutes in scheduled)
            if key not in state_ids:
                state_ids[key] = len(self.state_time)
                self.state_time.append(when)
            states[i] = state_ids[key]
        self.minute_state = states

    def minute_index(self, t_ms: IntArray) -> IntArray:
        """Index into the window's minutes of each timestamp."""
        return np.clip(t_ms // 60_000 - self.minute0, 0, len(self.minute_state) - 1)

    def winner(
        self,
        kind: str,
        areas: frozenset[str],
        state: int,
        vehicle_class: str,
        *,
        event: str | None = None,
        initiator: str | None = None,
    ) -> AppliedRule | None:
        """The rule of ``kind`` in force (``zones.rules`` precedence), cached per case."""
        key = (kind, areas, state, vehicle_class, event, initiator)
        if key not in self._winners:
            self._winners[key] = winning_rule(
                self.zone, kind, areas, self.state_time[state], vehicle_class, event, initiator=initiator
            )
        return self._winners[key]

    def applies(self, rule: Rule, vehicle_class: str, state: int) -> bool:
        """Whether a rule covers the class in a schedule state (areas aside)."""
        return rule_applies_to(rule, vehicle_class, self.state_time[state])

    def permitted_minutes(self, rule: OperatingHoursRule) -> BoolArray:
        """Per window minute, whether an operating-hours rule permits driving."""
        if rule.id not in self._permitted:
            self._permitted[rule.id] = week_minutes(rule.permitted)[self.minute_of_week]
        return self._permitted[rule.id]

    def states(self) -> range:
        return range(len(self.state_time))

    def policy(self, vehicle_class: str) -> _Policy:
        """The class's policy in this zone (computed once)."""
        if vehicle_class not in self._policies:
            self._policies[vehicle_class] = self._make_policy(vehicle_class)
        return self._policies[vehicle_class]

    def in_force(self, kind: str, areas: frozenset[str], vehicle_class: str) -> list[Rule]:
        """The winning rule of ``kind`` in each schedule state of the window (where there is one)."""
        return [
            w.rule for s in self.states() if (w := self.winner(kind, areas, s, vehicle_class)) is not None
        ]

    def speed_limits(self, areas: frozenset[str], vehicle_class: str) -> list[SpeedLimitRule]:
        return [
            r for r in self.in_force("speed_limit", areas, vehicle_class) if isinstance(r, SpeedLimitRule)
        ]

    def dwell_limits(self, areas: frozenset[str], vehicle_class: str) -> list[float]:
        rules = self.in_force("dwell", areas, vehicle_class)
        return [r.max_dwell_s for r in rules if isinstance(r, DwellRule)]

    def _make_policy(self, vehicle_class: str) -> _Policy:
        """Where the class may drive, how fast and how long it may stop, in this window.

        An area is avoided when driving in it as the class normally does could break a rule:
        it is restricted, its speed limit is well below the open road's, it forbids the modes
        the class drives in, or the class is outside its hours there. Elsewhere the speed cap
        is the lowest limit that can apply, so no precedence question can make it too fast.
        """
        profile = _PROFILES[vehicle_class]
        problems: list[str] = []
        reasons: dict[str, set[str]] = {a: set() for a in self.area_ids}
        none: frozenset[str] = frozenset()
        zone_limit = min(
            (r.limit_kmh for r in self.speed_limits(none, vehicle_class)), default=profile.max_kmh
        )
        cap = min(zone_limit, profile.max_kmh)
        candidates = [_AUTONOMOUS, _MANUAL] if profile.has_driver else [_AUTONOMOUS]
        modes = [m for m in candidates if self.mode_allowed(m, none, vehicle_class)]
        if not modes:
            problems.append("no driving mode the class can use is allowed zone-wide")
        dwell_limits = self.dwell_limits(none, vehicle_class)
        hours_ok = bool(self.hours_mask(none, vehicle_class).all())
        for rule in self.zone.rules_of_kind("restricted_area"):
            if any(self.applies(rule, vehicle_class, s) for s in self.states()):
                for area in rule.applies.areas or []:
                    if area in reasons:
                        reasons[area].add("restricted")
        for area in self.area_ids:
            inside = frozenset({area})
            area_limit = min(
                (r.limit_kmh for r in self.speed_limits(inside, vehicle_class)), default=math.inf
            )
            if area_limit < 0.75 * zone_limit:
                reasons[area].add("speed")
            if modes and not all(self.mode_allowed(m, inside, vehicle_class) for m in modes):
                reasons[area].add("mode")
            if hours_ok and not self.hours_mask(inside, vehicle_class).all():
                reasons[area].add("hours")
            if not reasons[area]:
                cap = min(cap, area_limit)
                dwell_limits.extend(self.dwell_limits(inside, vehicle_class))
        avoid = {area: frozenset(why) for area, why in reasons.items() if why}
        avoided = [self.areas_local[a].buffer(_MARGIN_M) for a in avoid if a in self.areas_local]
        region = (
            self.inner_boundary.difference(shapely.union_all(avoided)) if avoided else self.inner_boundary
        )
        shapely.prepare(region)
        region_m2 = float(region.area)
        if region_m2 < 20_000:
            problems.append("no room to drive away from the areas it must avoid")
        operators = tuple(op.id for op in self.zone.config.operators if vehicle_class in op.vehicle_classes)
        max_stop = 0.4 * min(dwell_limits) if dwell_limits else profile.stop_s[1]
        return _Policy(
            vehicle_class=vehicle_class,
            profile=profile,
            operators=operators,
            cap_kmh=cap - _SPEED_MARGIN_KMH,
            modes=tuple(modes),
            max_stop_s=max_stop,
            avoid=avoid,
            region=region,
            region_m2=region_m2,
            hours_ok=hours_ok,
            problems=problems,
        )

    def mode_allowed(self, mode: int, areas: frozenset[str], vehicle_class: str) -> bool:
        """Whether a mode is allowed in an area set throughout the window."""
        rules = self.in_force("driving_mode", areas, vehicle_class)
        return all(_MODES[mode] in r.allowed_modes for r in rules if isinstance(r, DrivingModeRule))

    def hours_mask(self, areas: frozenset[str], vehicle_class: str) -> BoolArray:
        """Per window minute, whether the class may drive there (no rule counts as yes)."""
        ok = np.ones(len(self.minute_state), dtype=np.bool_)
        for s in self.states():
            w = self.winner("operating_hours", areas, s, vehicle_class)
            if w is not None and isinstance(w.rule, OperatingHoursRule):
                in_state = self.minute_state == s
                ok[in_state] = self.permitted_minutes(w.rule)[in_state]
        return ok

    def out_of_hours_s(self, vehicle_class: str) -> float:
        """Seconds of the simulated samples that fall outside the class's zone-wide hours."""
        mask = self.hours_mask(frozenset(), vehicle_class)
        return float((~mask[self.minute_index(self.t_ms)]).sum() / self.rate)

    def corridor(self, vehicle_class: str, area: str) -> BaseGeometry:
        """Where an excursion into ``area`` may drive: the class's region plus the area."""
        key = (vehicle_class, area)
        if key not in self._regions:
            region = self.policy(vehicle_class).region
            target = (
                self.areas_local[area]
                .buffer(_MARGIN_M)
                .intersection(self.inner_boundary.buffer(_MARGIN_M / 2))
            )
            corridor = shapely.union(region, target)
            shapely.prepare(corridor)
            self._regions[key] = corridor
        return self._regions[key]

    def plain_region(self, vehicle_class: str) -> BaseGeometry:
        """The class's region outside every area with a speed rule for it: only zone-wide
        speed limits are in force there, so a speeding run there breaks a known rule."""
        key = (vehicle_class, "")
        if key not in self._regions:
            scoped = [
                self.areas_local[a].buffer(_MARGIN_M)
                for a in self.area_ids
                if any(
                    rule.applies.areas and a in rule.applies.areas and self.applies(rule, vehicle_class, s)
                    for rule in self.zone.rules_of_kind("speed_limit")
                    for s in self.states()
                )
            ]
            region = self.policy(vehicle_class).region
            plain = region.difference(shapely.union_all(scoped)) if scoped else region
            shapely.prepare(plain)
            self._regions[key] = plain
        return self._regions[key]

    def compliant_classes(self) -> list[str]:
        return [c for c in _PROFILES if self.policy(c).compliant]


# --- planning: which vehicle gets what -----------------------------------------------------


@dataclass(frozen=True)
class _Task:
    zone_pos: int
    index: int
    kinds: tuple[str, ...]
    defect: bool


@dataclass
class _ZonePlan:
    model: _ZoneModel
    tasks: list[_Task]
    requested: dict[str, int]
    not_injectable: dict[str, str]


def _plan_zone(model: _ZoneModel, options: SimulationOptions, zone_pos: int) -> _ZonePlan:
    """Choose, deterministically from the seed, which vehicles get which injections.

    Counts are exact (rate × vehicles, rounded) so a manifest can be checked against the
    ground truth. Kinds are dealt out over one shuffled order, so vehicles rarely get more
    than one kind unless the rates add up to more than one; defects go to the vehicles
    dealt last, so they seldom share a vehicle with an injected violation.
    """
    compliant = model.compliant_classes()
    if not compliant:
        reasons = "; ".join(f"{c}: {', '.join(_why_not(model, c))}" for c in _PROFILES)
        raise SimulationError(
            f"zone {model.zone.zone_id}: no vehicle class can drive there without breaking a rule during the "
            f"simulated window ({reasons}); choose a --start inside the zone's operating hours"
        )
    gap_rules = [
        rule
        for rule in model.zone.rules_of_kind("telemetry_gap")
        if any(model.applies(rule, c, s) for c in compliant for s in model.states())
    ]
    tightest_gap = min(_values(gap_rules, "max_gap_s"), default=math.inf)
    if 1.0 / options.rate_hz >= tightest_gap:
        raise SimulationError(
            f"--rate {options.rate_hz}: zone {model.zone.zone_id} allows telemetry gaps of at most "
            f"{tightest_gap:g} s, so every vehicle would break it; sample faster than {1 / tightest_gap:g} Hz"
        )
    rng = np.random.default_rng([options.seed, _zone_key(model.zone.zone_id), 0x504C414E])
    order = rng.permutation(options.vehicles)
    kinds: dict[int, list[str]] = {}
    requested: dict[str, int] = {}
    not_injectable: dict[str, str] = {}
    cursor = 0
    for kind in RULE_KINDS:
        count = math.floor(options.inject.get(kind, 0.0) * options.vehicles + 0.5)
        if count == 0:
            continue
        requested[kind] = count
        reason = _not_injectable(model, kind)
        if reason is not None:
            not_injectable[kind] = reason
            continue
        for _ in range(count):
            kinds.setdefault(int(order[cursor % options.vehicles]), []).append(kind)
            cursor += 1
    defect_count = math.floor(options.defects * options.vehicles + 0.5)
    defective = {int(v) for v in order[::-1][:defect_count]}
    tasks = [
        _Task(zone_pos, i, tuple(dict.fromkeys(kinds.get(i, []))), i in defective)
        for i in range(options.vehicles)
    ]
    return _ZonePlan(model, tasks, requested, not_injectable)


def _values(rules: Sequence[Rule], name: str) -> list[float]:
    """A numeric parameter (``max_gap_s``, ``grace_s`` ...) of those rules that have it."""
    return [float(getattr(rule, name)) for rule in rules if hasattr(rule, name)]


def _zone_key(zone_id: str) -> int:
    return int.from_bytes(hashlib.sha256(zone_id.encode()).digest()[:4], "big")


def _why_not(model: _ZoneModel, vehicle_class: str) -> list[str]:
    policy = model.policy(vehicle_class)
    reasons = list(policy.problems)
    if not policy.hours_ok:
        reasons.append("outside its operating hours")
    if not policy.operators:
        reasons.append("no operator holds a permit for it")
    return reasons


def _not_injectable(model: _ZoneModel, kind: str) -> str | None:
    """Why a rule kind cannot be injected in this zone and window, or None if it can."""
    rules = model.zone.rules_of_kind(kind)
    if not rules:
        return f"the zone has no {kind} rule"
    compliant = model.compliant_classes()
    covered = [c for c in compliant if any(model.applies(r, c, s) for r in rules for s in model.states())]
    duration = model.n / model.rate
    if kind == "operating_hours":
        if _hours_classes(model) or _hours_areas(model):
            return None
        return (
            "every class is permitted for the whole simulated window in every place it can drive; "
            "choose a --start or --duration that reaches outside some class's operating hours"
        )
    if kind == "permit":
        return None if covered else "no permit rule applies to a class that can drive here"
    if not covered:
        return f"no {kind} rule applies to a vehicle class that can drive here in the simulated window"
    if kind == "speed_limit" and not any(_speed_options(model, c) for c in covered):
        return "no class can drive fast enough to exceed the limits that apply to it"
    if kind == "telemetry_gap":
        longest = max(_values(rules, "max_gap_s"))
        if duration < 4 * longest + 60:
            return f"a {duration:g} s run is too short for a gap beyond max_gap_s {longest:g} s"
    if kind == "dwell" and not any(_dwell_rules(model, c) for c in covered):
        shortest = min(_values(rules, "max_dwell_s"))
        return f"a {duration:g} s run is too short to stop beyond max_dwell_s {shortest:g} s"
    if kind == "driving_mode" and not any(_mode_options(model, c) for c in covered):
        return "no driving_mode rule forbids a mode the covered classes can drive in"
    if kind == "restricted_area" and not any(_restricted_areas(model, c) for c in covered):
        return "no restricted area a vehicle can reach"
    if kind == "vehicle_event" and not any(_event_rules(model, c) for c in covered):
        return "no vehicle_event rule for an event the covered classes can report"
    return None


# --- what each kind of injection can use -----------------------------------------------------


def _hours_classes(model: _ZoneModel) -> list[str]:
    """Classes that can drive but are outside their zone-wide hours for part of the window."""
    found = []
    for c in _PROFILES:
        policy = model.policy(c)
        if not policy.drivable or policy.hours_ok or not policy.operators:
            continue
        grace = max(_values(model.zone.rules_of_kind("operating_hours"), "grace_s"), default=0.0)
        if model.out_of_hours_s(c) >= grace + 20:
            found.append(c)
    return found


def _hours_areas(model: _ZoneModel) -> list[tuple[str, str]]:
    """(class, area) pairs: a compliant class and an area it must avoid for operating hours."""
    return [(c, area) for c in model.compliant_classes() for area in _areas_for(model.policy(c), "hours")]


def _speed_options(model: _ZoneModel, vehicle_class: str) -> list[tuple[str | None, float]]:
    """Where a class can speed: (area or None for the open road, target km/h).

    The target clears the limit in force there by 10 km/h; on the open road the speeding leg
    stays out of every area with its own limit. In an area, the target stays below the open
    road's limit, so the drive in and out is not speeding too.
    """
    policy = model.policy(vehicle_class)
    options: list[tuple[str | None, float]] = []
    open_road = model.speed_limits(frozenset(), vehicle_class)
    if open_road and model.plain_region(vehicle_class).area > 100_000:
        target = max(r.limit_kmh + r.tolerance_kmh for r in open_road) + 10
        if target + 6 <= policy.profile.max_kmh:
            options.append((None, target))
    for area in _areas_for(policy, "speed"):
        rules = model.speed_limits(frozenset({area}), vehicle_class)
        target = max(r.limit_kmh + r.tolerance_kmh for r in rules) + 10
        if target + 6 <= min(policy.profile.max_kmh, policy.cap_kmh):
            options.append((area, target))
    return options


def _mode_options(model: _ZoneModel, vehicle_class: str) -> list[tuple[str | None, int]]:
    """Where and in which mode a class can break a driving_mode rule: (area or None, mode)."""
    policy = model.policy(vehicle_class)
    options: list[tuple[str | None, int]] = []
    for area in _areas_for(policy, "mode"):
        inside = frozenset({area})
        options.extend(
            (area, mode) for mode in policy.modes if not model.mode_allowed(mode, inside, vehicle_class)
        )
    # Zone-wide: a stretch in a mode the zone does not allow (a remote operator driving, a
    # safety driver taking the wheel, a mode the vehicle cannot determine).
    producible = [_MODE_CODE["REMOTE_OPERATED"], _MODE_CODE["UNKNOWN"]]
    if policy.profile.has_driver:
        producible.insert(0, _MANUAL)
    for mode in producible:
        if mode not in policy.modes and not model.mode_allowed(mode, frozenset(), vehicle_class):
            options.append((None, mode))
    return options


def _restricted_areas(model: _ZoneModel, vehicle_class: str) -> list[str]:
    policy = model.policy(vehicle_class)
    return _areas_for(policy, "restricted")


def _areas_for(policy: _Policy, reason: str) -> list[str]:
    """Avoided areas a vehicle can enter to break only the rules behind ``reason``.

    Also being avoided for speed or mode is fine (the drive in keeps the area's limit and a
    mode allowed there); for being restricted or out of hours it is not.
    """
    return [
        area
        for area, why in policy.avoid.items()
        if reason in why and not (why - {reason}) & ({"restricted", "hours"} - {reason})
    ]


def _event_rules(model: _ZoneModel, vehicle_class: str) -> list[VehicleEventRule]:
    """Vehicle-event rules a vehicle of the class can trigger by reporting the event."""
    found = []
    has_driver = _PROFILES[vehicle_class].has_driver
    policy = model.policy(vehicle_class)
    for rule in model.zone.rules_of_kind("vehicle_event"):
        if not isinstance(rule, VehicleEventRule):
            continue
        if not any(model.applies(rule, vehicle_class, s) for s in model.states()):
            continue
        if rule.event == EventKind.DISENGAGEMENT and not has_driver:
            continue
        if rule.applies.areas is not None and not any(
            a in model.zone.areas and a not in policy.avoid for a in rule.applies.areas
        ):
            continue
        found.append(rule)
    return found


def _dwell_rules(model: _ZoneModel, vehicle_class: str) -> list[tuple[str | None, float]]:
    """Where a class can overstay: (area or None for zone-wide, max_dwell_s of the winner).

    Only places it may otherwise be, and only limits the simulated window is long enough to
    overstay (the stop lasts about 1.5 times the limit, away from the window's ends).
    """
    policy = model.policy(vehicle_class)
    found: list[tuple[str | None, float]] = []
    found.extend((None, limit) for limit in model.dwell_limits(frozenset(), vehicle_class)[:1])
    for area in model.area_ids:
        if area in policy.avoid:
            continue
        w = model.winner("dwell", frozenset({area}), 0, vehicle_class)
        if w is not None and w.area == area and isinstance(w.rule, DwellRule):
            found.append((area, w.rule.max_dwell_s))
    duration = model.n / model.rate
    return [(area, limit) for area, limit in found if duration >= 2 * limit + 120]


# --- running the tasks -----------------------------------------------------------------------


@dataclass
class _VehicleResult:
    ground_truth: list[str]
    samples: int
    files: int
    bytes: int
    slices: set[int]
    vehicle_class: str
    injected: list[str]
    failed: dict[str, str]
    incidental: int
    defects: int
    zone_pos: int
    by_kind: Counter[str]


@dataclass
class _ZoneTotals:
    vehicles: int = 0
    samples: int = 0
    files: int = 0
    bytes: int = 0
    slices: set[int] = field(default_factory=set)
    classes: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failed_reasons: dict[str, set[str]] = field(default_factory=dict)
    findings: Counter[str] = field(default_factory=Counter)
    incidental: int = 0
    defects: int = 0


@dataclass
class _Totals:
    zones: list[_ZoneTotals]
    samples: int = 0

    def add(self, result: _VehicleResult) -> None:
        zone = self.zones[result.zone_pos]
        self.samples += result.samples
        zone.vehicles += 1
        zone.samples += result.samples
        zone.files += result.files
        zone.bytes += result.bytes
        zone.slices |= result.slices
        zone.classes[result.vehicle_class] += 1
        zone.injected.update(result.injected)
        for kind, reason in result.failed.items():
            zone.failed[kind] += 1
            zone.failed_reasons.setdefault(kind, set()).add(reason)
        zone.findings.update(result.by_kind)
        zone.incidental += result.incidental
        zone.defects += result.defects


_WORKER: dict[str, Any] = {}


def _init_worker(zones: Sequence[Zone], options: SimulationOptions, out: Path) -> None:
    """Set up a worker process: its own zone models, built from the zones as loaded."""
    _WORKER["models"] = [_ZoneModel(zone, options) for zone in zones]
    _WORKER["out"] = out


def _worker_task(task: _Task) -> _VehicleResult:
    models: list[_ZoneModel] = _WORKER["models"]
    return _simulate_vehicle(models[task.zone_pos], task, _WORKER["out"])


def _run_tasks(
    models: Sequence[_ZoneModel], options: SimulationOptions, out: Path, tasks: Sequence[_Task]
) -> Iterator[_VehicleResult]:
    """Results in task order, from this process or from a pool of worker processes."""
    if options.workers == 1:
        _WORKER.update(models=list(models), out=out)
        try:
            yield from map(_worker_task, tasks)
        finally:
            _WORKER.clear()
        return
    # Spawned workers load nothing from this process but what is passed: the same on every OS.
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(8, len(tasks) // (options.workers * 4)))
    zones = [model.zone for model in models]
    with context.Pool(options.workers, initializer=_init_worker, initargs=(zones, options, out)) as pool:
        yield from pool.imap(_worker_task, tasks, chunksize=chunk)


# --- one vehicle ---------------------------------------------------------------------------


@dataclass
class _Identity:
    vehicle_id: str
    operator_id: str
    vehicle_class: str
    base_mode: int


@dataclass
class _Special:
    """A planned excursion on the route: ``shape`` is a straight "speed" leg, an "area" chord
    (into an area and out) or a "boundary" loop (out of the zone and back)."""

    injection: str
    shape: str
    area: str | None = None
    cap_kmh: float | None = None
    stop_s: float = 0.0
    event: tuple[str, str | None] | None = None
    mode: int | None = None
    tag: int = 0


@dataclass
class _Timed:
    """Injections placed in time rather than on the route."""

    gap_s: float = 0.0
    gap_resumes: bool = True
    stop_s: float = 0.0
    stop_event: tuple[str, str | None] | None = None
    stop_mode: int | None = None
    event: tuple[str, str | None] | None = None
    mode_stretch: tuple[int, float] | None = None
    background_event: str | None = None
    operator_id: str | None = None


def _simulate_vehicle(model: _ZoneModel, task: _Task, out: Path) -> _VehicleResult:
    """Generate, check and write one vehicle; retry from its own random stream until it is right.

    Right means: the findings are exactly the wanted kinds (none for a baseline vehicle) and
    none is too close to call. A kind that never comes out in half the attempts is given up
    (and reported); if no attempt is right, the last one is written with its true findings.
    """
    options = model.options
    rng = np.random.default_rng([options.seed, _zone_key(model.zone.zone_id), task.index])
    digest = hashlib.sha256(f"{options.seed}:{model.zone.zone_id}:{task.index}".encode()).hexdigest()
    vehicle_id = "veh-" + digest[:10]
    wanted = list(task.kinds)
    failed: dict[str, str] = {}
    seen: set[str] = set()
    track: _Track | None = None
    findings: list[_Finding] = []
    attempt = 0
    while attempt < _MAX_ATTEMPTS or track is None:
        if attempt == _MAX_ATTEMPTS // 2:
            for kind in [k for k in wanted if k not in seen]:
                failed.setdefault(kind, "no clear violation came out in several attempts")
                wanted.remove(kind)
        if attempt >= 3 * _MAX_ATTEMPTS:
            raise RuntimeError(f"vehicle {task.index} of zone {model.zone.zone_id}: no usable track")
        attempt += 1
        try:
            track, plan_failures = _generate(model, rng, vehicle_id, wanted)
        except _NoPlaceError as exc:
            if exc.kind in wanted and attempt >= 3:
                failed.setdefault(exc.kind, exc.reason)
                wanted.remove(exc.kind)
            continue
        for kind, reason in plan_failures:
            failed.setdefault(kind, reason)
            wanted.remove(kind)
        findings, ambiguous = _evaluate(model, track)
        kinds_found = {f.kind for f in findings}
        seen |= kinds_found
        if not ambiguous and kinds_found == set(wanted):
            break
    kinds_found = {f.kind for f in findings}
    injected = [k for k in wanted if k in kinds_found]
    for kind in wanted:
        if kind not in kinds_found:
            failed.setdefault(kind, "no clear violation came out in several attempts")
    incidental = sum(1 for f in findings if f.kind not in wanted)
    defects: list[_Finding] = []
    records = _records(track)
    if task.defect:
        defects = _apply_defects(track, records, rng, findings)
    all_findings = sorted([*findings, *defects], key=lambda f: (f.start_ms, f.kind, f.rule_id, f.end_ms))
    lines = [_ground_truth_line(model, track.identity, f) for f in all_findings]
    files, size, slices, samples = _write_files(model, task, track.identity.vehicle_id, records, out)
    return _VehicleResult(
        ground_truth=lines,
        samples=samples,
        files=files,
        bytes=size,
        slices=slices,
        vehicle_class=track.identity.vehicle_class,
        injected=injected,
        failed=failed,
        incidental=incidental,
        defects=len(defects),
        zone_pos=task.zone_pos,
        by_kind=Counter(f.kind for f in all_findings),
    )


class _NoPlaceError(Exception):
    """An injection (``kind``, or None for the route itself) found no place on this attempt."""

    def __init__(self, kind: str | None, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass
class _Track:
    """One vehicle's samples as columns, before defects: what the evaluator checks."""

    identity: _Identity
    t_ms: IntArray
    sent: BoolArray
    lon: FloatArray
    lat: FloatArray
    altitude: FloatArray
    heading: FloatArray
    accuracy: FloatArray
    speed_kmh: FloatArray
    mode: npt.NDArray[np.int8]
    events: dict[int, list[tuple[str, str | None]]]
    sequence0: int
    protected: BoolArray
    """Samples inside an injected violation (plus a margin): defects are kept off them."""


@dataclass
class _Drive:
    """One attempt at one vehicle: its zone, random stream, class policy and cruise speed."""

    model: _ZoneModel
    rng: np.random.Generator
    policy: _Policy
    cruise_kmh: float


@dataclass
class _Truth:
    """What the vehicle really did at each sample time, before sensors and uploads."""

    x: FloatArray
    y: FloatArray
    v: FloatArray
    heading: FloatArray
    mode: npt.NDArray[np.int8]
    events: dict[int, list[tuple[str, str | None]]]
    sent: BoolArray
    protected: BoolArray
    """Samples inside an injection (plus a margin): nothing else is placed there."""
    ordinary: BoolArray
    """Samples where the vehicle is moving on an ordinary part of its route."""


def _generate(
    model: _ZoneModel, rng: np.random.Generator, vehicle_id: str, kinds: Sequence[str]
) -> tuple[_Track, list[tuple[str, str]]]:
    """One attempt at a vehicle with the given injections; returns the track and the kinds
    that could not even be planned (with why)."""
    vehicle_class, planned, failures = _choose_class(model, rng, list(kinds))
    policy = model.policy(vehicle_class)
    profile = policy.profile
    cruise_hi = min(profile.cruise_kmh[1], policy.cap_kmh)
    drive = _Drive(
        model, rng, policy, float(rng.uniform(min(profile.cruise_kmh[0], cruise_hi * 0.85), cruise_hi))
    )
    operator_id = (
        str(rng.choice(policy.operators)) if policy.operators else "op-unlicensed-" + vehicle_id[-4:]
    )
    base_mode = int(rng.choice(policy.modes, p=_mode_weights(policy.modes)))
    specials: list[_Special] = []
    timed = _Timed()
    for kind in planned:
        reason = _plan_injection(drive, kind, specials, timed)
        if reason is not None:
            failures.append((kind, reason))
    for tag, special in enumerate(specials, start=1):
        special.tag = tag
        if special.mode is not None:
            base_mode = special.mode
    needs_autonomy = timed.event is not None or timed.stop_event is not None or timed.mode_stretch is not None
    if needs_autonomy and _AUTONOMOUS in policy.modes and all(s.mode is None for s in specials):
        base_mode = _AUTONOMOUS
    if not planned and rng.random() < 0.03 and EventKind.HARSH_BRAKING not in _covered_events(model):
        timed.background_event = "HARSH_BRAKING"
    identity = _Identity(vehicle_id, timed.operator_id or operator_id, vehicle_class, base_mode)
    truth = _drive_route(drive, specials, timed, base_mode)
    _apply_timed(drive, truth, timed)
    return _observe(model, rng, identity, truth), failures


def _drive_route(drive: _Drive, specials: Sequence[_Special], timed: _Timed, base_mode: int) -> _Truth:
    """The vehicle's true motion at every sample time, with its excursions and any stop the
    plan adds (an overlong dwell, the stop after a minimal-risk manoeuvre or a collision)."""
    model, rng, policy = drive.model, drive.rng, drive.policy
    profile = policy.profile
    duration = model.n / model.rate
    t_offset = float(rng.uniform(20, 60))  # the vehicle is already driving when the window opens
    t_needed = t_offset + duration + 1
    needed = (drive.cruise_kmh / 3.6) * 0.6 * t_needed + 300
    for _extension in range(6):
        route = _build_route(drive, needed, specials)
        dense = _densify(route, profile, policy)
        motion = _motion(dense, profile)
        if motion.t_end >= t_needed:
            break
        needed *= 1.6
    else:
        raise _NoPlaceError(None, "the route ran out before the simulated window ended")
    tau = t_offset + np.arange(model.n) / model.rate
    mode = np.full(model.n, base_mode, dtype=np.int8)
    events: dict[int, list[tuple[str, str | None]]] = {}
    protected = np.zeros(model.n, dtype=np.bool_)
    if timed.stop_s > 0:
        kind = "dwell" if timed.stop_event is None else "vehicle_event"
        fi = np.interp(tau, motion.knot_t, motion.knot_i)
        moving = np.interp(fi, np.arange(len(motion.v), dtype=np.float64), motion.v) > 1.0
        k = _pick_sample(rng, moving & (dense.tag[np.rint(fi).astype(np.int64)] == 0), within=(0.2, 0.55))
        if k is None:
            raise _NoPlaceError(kind, "no moving stretch to stop on")
        stop_index = round(float(np.interp(tau[k], motion.knot_t, motion.knot_i)))
        dense = _densify(route, profile, policy, extra_stop=(stop_index, timed.stop_s))
        motion = _motion(dense, profile)
        if motion.t_end < t_needed:
            raise _NoPlaceError(None, "the route ran out after the added stop")
        arrive = float(motion.knot_t[np.searchsorted(motion.knot_i, stop_index)])
        leave = arrive + timed.stop_s
        protected |= (tau >= arrive - 30) & (tau <= leave + 30)
        if timed.stop_event is not None:
            # A minimal-risk manoeuvre is the braking to a stop; a collision ends the drive there.
            lead = 8.0 if timed.stop_mode is not None else 1.0
            k = min(max(int(np.searchsorted(tau, arrive - lead)), 0), model.n - 1)
            events.setdefault(k, []).append(timed.stop_event)
            if timed.stop_mode is not None:
                mode[k : int(np.searchsorted(tau, leave))] = timed.stop_mode
    fi = np.interp(tau, motion.knot_t, motion.knot_i)
    idx = np.arange(len(dense.x), dtype=np.float64)
    sample_tag = dense.tag[np.rint(fi).astype(np.int64)]
    protected |= sample_tag > 0
    for special in specials:
        inside = np.flatnonzero(sample_tag == special.tag)
        if special.event is not None and inside.size:
            events.setdefault(int(inside[inside.size // 2]), []).append(special.event)
    moving = (np.interp(fi, idx, motion.v) > 1.0) & (sample_tag == 0)
    return _Truth(
        x=np.interp(fi, idx, dense.x),
        y=np.interp(fi, idx, dense.y),
        v=np.interp(fi, idx, motion.v),
        heading=np.interp(fi, idx, dense.heading_unwrapped) % 360.0,
        mode=mode,
        events=events,
        sent=np.ones(model.n, dtype=np.bool_),
        protected=protected,
        ordinary=moving,
    )


def _apply_timed(drive: _Drive, truth: _Truth, timed: _Timed) -> None:
    """Injections placed in time: an event (with the mode changes it brings), a stretch in a
    forbidden mode, background harsh braking, and a telemetry gap."""
    model, rng = drive.model, drive.rng
    rate = model.rate
    mode, protected = truth.mode, truth.protected
    if timed.event is not None or timed.mode_stretch is not None or timed.background_event is not None:
        k = _pick_sample(rng, truth.ordinary & ~protected, within=(0.2, 0.6))
        if k is None:
            raise _NoPlaceError(
                "vehicle_event" if timed.event else "driving_mode", "no moving stretch for it"
            )
        before = max(0, k - int(30 * rate))
        if timed.event is not None:
            truth.events.setdefault(k, []).append(timed.event)
            if timed.event[0] == "DISENGAGEMENT":
                handover = max(1, math.ceil(1.5 * rate))
                manual = int(rng.uniform(60, 240) * rate)
                mode[k : k + handover] = _MODE_CODE["DISENGAGING"]
                mode[k + handover : k + handover + manual] = _MANUAL
            elif timed.event[0] == "REMOTE_TAKEOVER":
                mode[k : k + int(rng.uniform(30, 120) * rate)] = _MODE_CODE["REMOTE_OPERATED"]
            protected[before : k + int(300 * rate)] = True
        elif timed.mode_stretch is not None:
            stretch_mode, seconds = timed.mode_stretch
            mode[k : k + int(seconds * rate)] = stretch_mode
            protected[before : k + int((seconds + 30) * rate)] = True
        else:
            truth.events.setdefault(k, []).append(("HARSH_BRAKING", None))
    if timed.gap_s > 0:
        k = _pick_sample(rng, truth.ordinary & ~protected, within=(0.25, 0.6))
        if k is None:
            raise _NoPlaceError("telemetry_gap", "no place for the gap")
        if timed.gap_resumes:
            truth.sent[k + 1 : k + 1 + int(timed.gap_s * rate)] = False
        else:
            truth.sent[k + 1 :] = False
        protected[max(0, k - int(30 * rate)) : k + int((timed.gap_s + 30) * rate)] = True


def _pick_sample(
    rng: np.random.Generator, candidates: BoolArray, *, within: tuple[float, float]
) -> int | None:
    """One of the candidate samples between two fractions of the window, at random."""
    ok = candidates.copy()
    n = len(ok)
    ok[: int(within[0] * n)] = False
    ok[int(within[1] * n) :] = False
    choices = np.flatnonzero(ok)
    if choices.size == 0:
        return None
    return int(choices[int(rng.integers(choices.size))])


def _covered_events(model: _ZoneModel) -> set[str]:
    return {
        r.event.value for r in model.zone.rules_of_kind("vehicle_event") if isinstance(r, VehicleEventRule)
    }


def _mode_weights(modes: Sequence[int]) -> list[float]:
    weights = [0.88 if m == _AUTONOMOUS else 0.12 for m in modes]
    total = sum(weights)
    return [w / total for w in weights]


def _choose_class(
    model: _ZoneModel, rng: np.random.Generator, kinds: list[str]
) -> tuple[str, list[str], list[tuple[str, str]]]:
    """A vehicle class that can carry every wanted injection, dropping kinds that cannot fit.

    A vehicle driving outside its hours can carry other injections too: those need a class
    that keeps every rule but the hours.
    """
    compliant = model.compliant_classes()
    dropped: list[tuple[str, str]] = []
    allowed = set(compliant)
    while kinds:
        allowed = set(_PROFILES)
        for kind in kinds:
            allowed &= set(_classes_for(model, kind, hours_exempt="operating_hours" in kinds))
        if allowed:
            break
        dropped.append((kinds[-1], f"no vehicle class can carry it together with {', '.join(kinds[:-1])}"))
        kinds = kinds[:-1]
    pool = sorted(allowed) if kinds else compliant
    weights = np.array([_PROFILES[c].weight for c in pool])
    return str(rng.choice(pool, p=weights / weights.sum())), kinds, dropped


def _classes_for(model: _ZoneModel, kind: str, *, hours_exempt: bool = False) -> list[str]:
    """Classes a vehicle injected with ``kind`` can be (``hours_exempt``: it may be outside
    its operating hours anyway)."""
    if kind == "operating_hours":
        return sorted(set(_hours_classes(model)) | {c for c, _ in _hours_areas(model)})
    base = [
        c
        for c in _PROFILES
        if model.policy(c).drivable
        and model.policy(c).operators
        and (hours_exempt or model.policy(c).hours_ok)
    ]
    rules = model.zone.rules_of_kind(kind)
    covered = [c for c in base if any(model.applies(r, c, s) for r in rules for s in model.states())]
    usable: dict[str, Callable[[_ZoneModel, str], Sequence[Any]]] = {
        "speed_limit": _speed_options,
        "driving_mode": _mode_options,
        "restricted_area": _restricted_areas,
        "vehicle_event": _event_rules,
        "dwell": _dwell_rules,
    }
    if kind in usable:
        return [c for c in covered if usable[kind](model, c)]
    return covered


def _plan_injection(drive: _Drive, kind: str, specials: list[_Special], timed: _Timed) -> str | None:
    """Add one injection to the vehicle's plan; returns why it cannot be, or None."""
    model, rng, policy = drive.model, drive.rng, drive.policy
    c = policy.vehicle_class
    duration = model.n / model.rate

    def pick(options: Sequence[Any]) -> Any:
        return options[int(rng.integers(len(options)))]

    def into(area: str, **extra: Any) -> str | None:
        mode = _mode_for_area(model, policy, area)
        if mode is None:
            return f"no driving mode {c} can use is allowed in {area}"
        specials.append(_Special(kind, "area", area, _area_cap(model, policy, area), mode=mode, **extra))
        return None

    if kind == "speed_limit":
        area, target = pick(_speed_options(model, c))
        target = min(target + float(rng.uniform(0, 6)), policy.profile.max_kmh)
        if area is None:
            specials.append(_Special(kind, "speed", None, target))
            return None
        mode = _mode_for_area(model, policy, area)
        if mode is None:
            return f"no driving mode {c} can use is allowed in {area}"
        specials.append(_Special(kind, "area", area, target, mode=mode))
    elif kind == "leave_boundary":
        specials.append(_Special(kind, "boundary"))
    elif kind == "restricted_area":
        return into(pick(_restricted_areas(model, c)))
    elif kind == "operating_hours":
        if c not in _hours_classes(model):
            return into(pick([a for cls, a in _hours_areas(model) if cls == c]))
        # Otherwise the class itself is outside its hours for part of the window.
    elif kind == "telemetry_gap":
        max_gap = min(_values(_applicable(model, kind, c), "max_gap_s"))
        timed.gap_s = max_gap * float(rng.uniform(2.0, 3.0)) + 2.0 / model.rate
        # Now and then a vehicle goes silent for good (power loss, modem failure).
        timed.gap_resumes = not (rng.random() < 0.2 and duration >= 6 * max_gap)
    elif kind == "driving_mode":
        area, mode = pick(_mode_options(model, c))
        if area is None:
            grace = max(_values(_applicable(model, kind, c), "grace_s"), default=0.0)
            timed.mode_stretch = (mode, grace + float(rng.uniform(15, 45)))
        else:
            specials.append(_Special(kind, "area", area, _area_cap(model, policy, area), mode=mode))
    elif kind == "dwell":
        area, limit = pick(_dwell_rules(model, c))
        stop = limit * float(rng.uniform(1.3, 1.7)) + 15
        if area is None:
            timed.stop_s = stop
        else:
            return into(area, stop_s=stop)
    elif kind == "permit":
        others = [op for op in model.zone.config.operators if c not in op.vehicle_classes]
        if others and rng.random() < 0.5:
            timed.operator_id = pick(others).id  # a real operator, not permitted this class
        else:
            timed.operator_id = f"op-unlicensed-{int(rng.integers(16**4)):04x}"
    elif kind == "vehicle_event":
        event_rules = _event_rules(model, c)
        weights = np.array([0.15 if r.event == EventKind.COLLISION else 1.0 for r in event_rules])
        rule = event_rules[int(rng.choice(len(event_rules), p=weights / weights.sum()))]
        event = (rule.event.value, _initiator(rng, rule, policy))
        if rule.applies.areas is not None:
            return into(
                pick([a for a in rule.applies.areas if a in model.zone.areas and a not in policy.avoid]),
                event=event,
            )
        if rule.event in (EventKind.MINIMAL_RISK_MANOEUVRE, EventKind.COLLISION, EventKind.EMERGENCY_STOP):
            timed.stop_s = min(policy.max_stop_s, float(rng.uniform(20, 60)))
            timed.stop_event = event
            if rule.event == EventKind.MINIMAL_RISK_MANOEUVRE:
                timed.stop_mode = _MODE_CODE["MINIMAL_RISK_MANOEUVRE"]
        else:
            timed.event = event
    return None


def _initiator(rng: np.random.Generator, rule: VehicleEventRule, policy: _Policy) -> str | None:
    """Who starts the event: what the rule asks for, else who plausibly would."""
    if rule.initiated_by:
        choices = [
            i.value for i in rule.initiated_by if i != Initiator.SAFETY_DRIVER or policy.profile.has_driver
        ]
        return choices[int(rng.integers(len(choices)))] if choices else rule.initiated_by[0].value
    if rule.event == EventKind.DISENGAGEMENT:
        return "SAFETY_DRIVER" if rng.random() < 0.6 else "SYSTEM"
    if rule.event == EventKind.REMOTE_TAKEOVER:
        return "REMOTE_OPERATOR"
    if rule.event in (EventKind.MINIMAL_RISK_MANOEUVRE, EventKind.EMERGENCY_STOP, EventKind.HARSH_BRAKING):
        return "SYSTEM"
    return None


def _mode_for_area(model: _ZoneModel, policy: _Policy, area: str) -> int | None:
    """A mode the class normally drives in that is allowed inside ``area`` (None if none is)."""
    inside = frozenset({area})
    return next((m for m in policy.modes if model.mode_allowed(m, inside, policy.vehicle_class)), None)


def _area_cap(model: _ZoneModel, policy: _Policy, area: str) -> float:
    """Speed for a drive through an area that keeps its limit."""
    limits = model.speed_limits(frozenset({area}), policy.vehicle_class)
    return min([policy.cap_kmh, *(r.limit_kmh - _SPEED_MARGIN_KMH for r in limits)])


# --- routes --------------------------------------------------------------------------------


@dataclass
class _Route:
    points: FloatArray
    """Waypoints, (k + 1, 2) metres in the zone frame."""
    cap_kmh: FloatArray
    """Speed cap on each leg (k)."""
    tag: IntArray
    """Special the leg belongs to (0 for none)."""
    stop_s: FloatArray
    """Dwell at the end of each leg."""


def _build_route(drive: _Drive, length_m: float, specials: Sequence[_Special]) -> _Route:
    """A plausible drive: legs mostly straight on or turning at right angles, as on a street
    grid, every leg inside the class's region; specials are spliced in along the way.

    A vehicle with an excursion starts within a short drive of where it will happen and,
    once it is due, heads there: zones are tens of kilometres across and a random walk would
    seldom pass a given school zone.
    """
    rng, policy, cruise_kmh = drive.rng, drive.policy, drive.cruise_kmh
    region = policy.region
    pending = list(specials)
    # Excursions early enough in the window to be seen, late enough to look like a drive.
    triggers = sorted(rng.uniform(0.15, 0.55, size=len(pending)) * length_m * 0.8)
    targets = [_special_target(drive, special) for special in pending]
    start = None
    if pending:
        start = _random_point_near(rng, region, targets[0], float(np.clip(0.5 * triggers[0], 50, 2500)))
    if start is None:
        start = _random_points(rng, region, 1)[0]
    points = [start]
    caps: list[float] = []
    tags: list[int] = []
    stops: list[float] = []
    heading = float(rng.uniform(0, 2 * math.pi))
    travelled = 0.0
    attempts_at_special = 0
    lo, hi = policy.profile.leg_m
    while travelled < length_m or pending:
        here = points[-1]
        # Before an excursion is due the drive drifts its way, then heads there.
        toward = targets[0] if pending and rng.random() < 0.4 else None
        if pending and travelled >= triggers[0]:
            legs = _special_legs(drive, here, pending[0])
            if legs is not None:
                for number, (end, cap, stop) in enumerate(legs):
                    travelled += float(np.hypot(*(end - points[-1])))
                    points.append(end)
                    caps.append(cap)
                    tags.append(pending[0].tag if number > 0 else 0)  # the first leg only gets there
                    stops.append(stop)
                last = points[-1] - points[-2]
                heading = math.atan2(last[0], last[1])
                pending.pop(0)
                triggers.pop(0)
                targets.pop(0)
                attempts_at_special = 0
                continue
            attempts_at_special += 1
            if attempts_at_special > 60:
                raise _NoPlaceError(
                    pending[0].injection, f"no place on the route for its {pending[0].shape} excursion"
                )
            toward = targets[0]
        previous = points[-2] if len(points) > 1 else None
        end = _next_waypoint(rng, region, here, heading, leg_m=(lo, hi), previous=previous, toward=toward)
        travelled += float(np.hypot(*(end - here)))
        step = end - here
        heading = math.atan2(step[0], step[1])
        points.append(end)
        caps.append(cruise_kmh)
        tags.append(0)
        stops.append(0.0)
    return _Route(np.array(points), np.array(caps), np.array(tags, dtype=np.int64), np.array(stops))


def _special_target(drive: _Drive, special: _Special) -> FloatArray:
    """Where the route heads for an excursion: a point of its area, of the boundary, or of
    the open road."""
    model, rng = drive.model, drive.rng
    if special.shape == "boundary":
        ring = model.boundary_local.boundary
        return shapely.get_coordinates(
            shapely.line_interpolate_point(ring, float(rng.uniform()), normalized=True)
        )[0]
    if special.shape == "speed":
        return _random_points(rng, model.plain_region(drive.policy.vehicle_class), 1)[0]
    assert special.area is not None
    edge = model.areas_local[special.area].boundary
    return shapely.get_coordinates(
        shapely.line_interpolate_point(edge, float(rng.uniform()), normalized=True)
    )[0]


def _random_point_near(
    rng: np.random.Generator, region: BaseGeometry, centre: FloatArray, radius: float
) -> FloatArray | None:
    """A random point of a region within ``radius`` of ``centre`` (None if there seems to be none)."""
    for _ in range(20):
        angle = rng.uniform(0, 2 * math.pi, 256)
        distance = radius * np.sqrt(rng.uniform(0, 1, 256))
        xs = centre[0] + distance * np.sin(angle)
        ys = centre[1] + distance * np.cos(angle)
        inside = np.flatnonzero(shapely.contains_xy(region, xs, ys))
        if inside.size:
            return np.array([xs[inside[0]], ys[inside[0]]])
    return None


def _random_points(rng: np.random.Generator, region: BaseGeometry, count: int) -> FloatArray:
    """``count`` uniform points inside a region, by vectorised rejection from its bounds."""
    minx, miny, maxx, maxy = region.bounds
    found: list[FloatArray] = []
    total = 0
    for _ in range(200):
        xs = rng.uniform(minx, maxx, 256)
        ys = rng.uniform(miny, maxy, 256)
        keep = shapely.contains_xy(region, xs, ys)
        if keep.any():
            found.append(np.column_stack((xs[keep], ys[keep])))
            total += int(keep.sum())
            if total >= count:
                break
    if total < count:
        raise _NoPlaceError(None, "the region is too small to place points in")
    return np.concatenate(found)[:count]


def _segments_inside(region: BaseGeometry, starts: FloatArray, ends: FloatArray) -> BoolArray:
    lines = shapely.linestrings(np.stack((starts, ends), axis=1))
    return np.asarray(shapely.contains(region, lines), dtype=np.bool_)


def _next_waypoint(
    rng: np.random.Generator,
    region: BaseGeometry,
    here: FloatArray,
    heading: float,
    *,
    leg_m: tuple[float, float],
    previous: FloatArray | None,
    toward: FloatArray | None = None,
) -> FloatArray:
    """The end of the next leg: straight on or a right-angle turn, else any way that fits;
    with ``toward``, the turns that lead there come first."""
    turns = rng.permutation([0.0, 0.0, math.pi / 2, -math.pi / 2])
    headings = np.concatenate([heading + turns + rng.normal(0, 0.05, 4), rng.uniform(0, 2 * math.pi, 6)])
    if toward is not None:
        bearing = math.atan2(toward[0] - here[0], toward[1] - here[1])
        order = np.argsort(np.abs((headings - bearing + math.pi) % (2 * math.pi) - math.pi), kind="stable")
        headings = np.concatenate([[bearing], bearing + rng.normal(0, 0.3, 2), headings[order]])
    for scale in (1.0, 0.3, 0.08):
        lengths = rng.uniform(*leg_m, len(headings)) * scale
        ends = here + np.column_stack((np.sin(headings) * lengths, np.cos(headings) * lengths))
        ok = _segments_inside(region, np.broadcast_to(here, ends.shape), ends)
        if ok.any():
            return ends[int(np.argmax(ok))]
    if previous is not None:
        return previous.copy()  # a U-turn back along the leg just driven always fits
    raise _NoPlaceError(None, "stuck at the start of the route")


_Leg = tuple[FloatArray, float, float]
"""One leg of a route: where it ends, its speed cap in km/h and the stop at its end in s."""


def _special_legs(drive: _Drive, here: FloatArray, special: _Special) -> list[_Leg] | None:
    """Legs (end, cap km/h, stop s) of an excursion starting from ``here``, or None if it does
    not fit from here (the route then drives on and tries again)."""
    if special.shape == "speed":
        return _speed_leg(drive, here, special)
    if special.shape == "boundary":
        return _boundary_loop(drive, here)
    return _area_chord(drive, here, special)


def _applicable(model: _ZoneModel, kind: str, vehicle_class: str) -> list[Rule]:
    """The kind's rules that cover the class at some time in the window."""
    return [
        r
        for r in model.zone.rules_of_kind(kind)
        if any(model.applies(r, vehicle_class, s) for s in model.states())
    ]


def _grace(model: _ZoneModel, kind: str, vehicle_class: str) -> float:
    """The longest grace period of the kind's rules for the class (0 if they have none)."""
    return max(_values(_applicable(model, kind, vehicle_class), "grace_s"), default=0.0)


def _approach_m(cruise_kmh: float) -> float:
    """How far a straight drive to an excursion may be: about four minutes at cruise."""
    return max(150.0, cruise_kmh / 3.6 * 240)


def _speed_leg(drive: _Drive, here: FloatArray, special: _Special) -> list[_Leg] | None:
    """A straight leg long enough to hold the target speed for well over the grace period."""
    model, rng, policy, cruise_kmh = drive.model, drive.rng, drive.policy, drive.cruise_kmh
    assert special.cap_kmh is not None
    target = special.cap_kmh / 3.6
    grace = _grace(model, "speed_limit", policy.vehicle_class)
    ramp = max(0.0, target**2 - (cruise_kmh / 3.6) ** 2) / (2 * policy.profile.accel)
    ramp_down = target**2 / (2 * policy.profile.decel)
    need = target * (grace + float(rng.uniform(8, 20))) + ramp + ramp_down + 4 * policy.profile.smooth_m
    headings = rng.uniform(0, 2 * math.pi, 24)
    ends = here + need * np.column_stack((np.sin(headings), np.cos(headings)))
    ok = _segments_inside(model.plain_region(policy.vehicle_class), np.broadcast_to(here, ends.shape), ends)
    if not ok.any():
        return None
    return [(here.copy(), cruise_kmh, 0.0), (ends[int(np.argmax(ok))], special.cap_kmh, 0.0)]


def _area_chord(drive: _Drive, here: FloatArray, special: _Special) -> list[_Leg] | None:
    """Into an area and out again: here → E (outside) → P (inside) → F (outside).

    Speeding drives straight through (a turn inside would slow it down); anything else
    drives in, turns and drives out, which fits large areas too. The legs E→P→F stay in the
    class's region plus the target area, so the excursion breaks only the rules of that
    area. The time inside exceeds the grace period by driving far enough in, or by stopping
    at P when the area is too small for that.
    """
    model, rng, policy, cruise_kmh = drive.model, drive.rng, drive.policy, drive.cruise_kmh
    assert special.area is not None
    count = 48
    area = model.areas_local[special.area]
    corridor = model.corridor(policy.vehicle_class, special.area)
    cap = special.cap_kmh if special.cap_kmh is not None else cruise_kmh
    speed = max(cap / 3.6, 1.0)
    scale = min(1.0, speed / 8)
    grace = _grace(model, special.injection, policy.vehicle_class)
    inside_need = speed * (grace + 8.0)
    edge = area.boundary
    nearest = float(shapely.line_locate_point(edge, shapely.points(here)))
    along = (nearest + rng.uniform(-1, 1, count) * _approach_m(cruise_kmh)) % edge.length
    entry = shapely.get_coordinates(shapely.line_interpolate_point(edge, along))
    try:
        inward = _random_points(rng, area, count) - entry
    except _NoPlaceError:
        return None
    depth_to_centre = np.maximum(np.hypot(*inward.T), 1e-6)
    u = inward / depth_to_centre[:, None]
    e = entry - u * (_MARGIN_M + rng.uniform(20, 150, count)[:, None] * scale)
    if special.injection == "speed_limit":
        rays = shapely.linestrings(np.stack((entry, entry + u * 20_000), axis=1))
        across = np.asarray(shapely.length(shapely.intersection(rays, area)))
        p = entry + u * (across / 2)[:, None]
        f = entry + u * (across + _MARGIN_M + rng.uniform(20, 150, count) * scale)[:, None]
    else:
        depth = np.minimum(inside_need / 2 + 15, 0.9 * depth_to_centre)
        p = entry + u * depth[:, None]
        turn = rng.choice([-1.0, 1.0], count) * rng.uniform(2.1, 2.7, count)
        cos, sin = np.cos(turn), np.sin(turn)
        back = np.column_stack((u[:, 0] * cos - u[:, 1] * sin, u[:, 0] * sin + u[:, 1] * cos))
        f = p + back * (depth + _MARGIN_M + rng.uniform(20, 150, count) * scale)[:, None]
    ok = shapely.contains_xy(policy.region, e[:, 0], e[:, 1]) & shapely.contains_xy(
        policy.region, f[:, 0], f[:, 1]
    )
    ok &= np.hypot(*(e - here).T) < _approach_m(cruise_kmh)
    ok &= _segments_inside(corridor, e, p) & _segments_inside(corridor, p, f)
    ok &= _segments_inside(policy.region, np.broadcast_to(here, e.shape), e)
    if not ok.any():
        return None
    i = int(np.argmax(ok))
    path = shapely.linestrings(np.array([e[i], p[i], f[i]]))
    length_inside = float(shapely.length(shapely.intersection(path, area)))
    stop = special.stop_s
    if special.injection != "speed_limit" and length_inside < inside_need:
        stop = max(stop, min(policy.max_stop_s, grace + 10.0))
    return [(e[i], cruise_kmh, 0.0), (p[i], cap, stop), (f[i], cap, 0.0)]


def _boundary_loop(drive: _Drive, here: FloatArray) -> list[_Leg] | None:
    """Out of the zone and back: here → E → O → O2 → E2, with O and O2 well outside."""
    model, rng, policy, cruise_kmh = drive.model, drive.rng, drive.policy, drive.cruise_kmh
    grace = _grace(model, "leave_boundary", policy.vehicle_class)
    speed = cruise_kmh / 3.6
    scale = min(1.0, speed / 8)  # a walking-pace robot makes a smaller loop
    out_m = max(_MARGIN_M / 2 + 20, speed * (grace + 12.0) / 2 + 40.0 * scale)
    ring = model.boundary_local.boundary
    nearest = float(shapely.line_locate_point(ring, shapely.points(here)))
    along = (nearest + rng.uniform(-1, 1, 48) * _approach_m(cruise_kmh)) % ring.length
    edge = shapely.get_coordinates(shapely.line_interpolate_point(ring, along))
    # Roughly away from where the vehicle is, which is out of the zone near the edge.
    angle = np.arctan2(edge[:, 0] - here[0], edge[:, 1] - here[1]) + rng.normal(0, 0.5, 48)
    u = np.column_stack((np.sin(angle), np.cos(angle)))
    side = np.column_stack((u[:, 1], -u[:, 0])) * 25.0 * max(scale, 0.4)
    e = edge - u * (_MARGIN_M + rng.uniform(20, 120, 48)[:, None] * scale)
    o = edge + u * out_m
    o2, e2 = o + side, e + side
    outside = model.boundary_local.buffer(_MARGIN_M / 2)
    ok = shapely.contains_xy(policy.region, e[:, 0], e[:, 1]) & shapely.contains_xy(
        policy.region, e2[:, 0], e2[:, 1]
    )
    ok &= ~shapely.intersects_xy(outside, o[:, 0], o[:, 1]) & ~shapely.intersects_xy(
        outside, o2[:, 0], o2[:, 1]
    )
    ok &= _segments_inside(policy.region, np.broadcast_to(here, e.shape), e)
    ok &= np.hypot(*(e - here).T) < _approach_m(cruise_kmh)
    if not ok.any():
        return None
    candidates = np.flatnonzero(ok)
    avoided = [model.areas_local[a].buffer(_MARGIN_M) for a in policy.avoid]
    blocked = shapely.union_all(avoided) if avoided else None
    for i in candidates:
        out_path = shapely.linestrings(np.array([e[i], o[i]]))
        back_path = shapely.linestrings(np.array([o2[i], e2[i]]))
        crossings = [shapely.get_num_geometries(shapely.intersection(p, ring)) for p in (out_path, back_path)]
        if crossings != [1, 1]:
            continue
        if blocked is not None and (
            shapely.intersects(blocked, out_path) or shapely.intersects(blocked, back_path)
        ):
            continue
        return [
            (e[i], cruise_kmh, 0.0),
            (o[i], cruise_kmh, 0.0),
            (o2[i], cruise_kmh, 0.0),
            (e2[i], cruise_kmh, 0.0),
        ]
    return None


# --- motion --------------------------------------------------------------------------------


@dataclass
class _Dense:
    x: FloatArray
    y: FloatArray
    step: FloatArray
    heading_unwrapped: FloatArray
    curvature: FloatArray
    cap: FloatArray
    tag: IntArray
    stop_index: IntArray
    stop_s: FloatArray


def _densify(
    route: _Route, profile: _ClassProfile, policy: _Policy, extra_stop: tuple[int, float] | None = None
) -> _Dense:
    """Points every metre along the route, corners rounded by smoothing, with stops added."""
    a, b = route.points[:-1], route.points[1:]
    lengths = np.hypot(*(b - a).T)
    counts = np.maximum(1, np.ceil(lengths / _DS_M).astype(np.int64))
    leg = np.repeat(np.arange(len(lengths)), counts)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    frac = (np.arange(offsets[-1]) - offsets[leg]) / counts[leg]
    pts = a[leg] + frac[:, None] * (b[leg] - a[leg])
    pts = np.vstack((pts, route.points[-1:]))
    cap = np.append(route.cap_kmh[leg], route.cap_kmh[-1]) / 3.6
    tag = np.append(route.tag[leg], route.tag[-1])
    window = max(1, int(profile.smooth_m / _DS_M)) | 1
    x, y = pts[:, 0], pts[:, 1]
    for _ in range(2):
        x, y = _moving_average(x, window), _moving_average(y, window)
    step = np.hypot(np.diff(x), np.diff(y))
    dx, dy = np.diff(x), np.diff(y)
    raw = np.arctan2(dx, dy)
    moving = step > 1e-6
    if not moving.any():
        raw[:] = 0.0
    else:
        # Carry the last known heading over zero-length steps (the tip of a U-turn).
        last = np.maximum.accumulate(np.where(moving, np.arange(len(raw)), -1))
        first = int(np.argmax(moving))
        raw = raw[np.where(last >= 0, last, first)]
    heading = np.unwrap(np.append(raw, raw[-1]))
    turn = np.abs(np.diff(heading))
    curvature = np.append(turn / np.maximum(step, 0.05), 0.0)
    curvature = _moving_average(curvature, 5)
    stop_index = offsets[1:][route.stop_s > 0]
    stop_s = route.stop_s[route.stop_s > 0]
    scheduled = _scheduled_stops(profile, policy, step, tag, np.concatenate((stop_index, [0])))
    stop_index = np.concatenate((stop_index, scheduled[0]))
    stop_s = np.concatenate((stop_s, scheduled[1]))
    if extra_stop is not None:
        stop_index = np.append(stop_index, extra_stop[0])
        stop_s = np.append(stop_s, extra_stop[1])
    order = np.argsort(stop_index, kind="stable")
    stop_index, stop_s = stop_index[order], stop_s[order]
    keep = np.concatenate(([True], np.diff(stop_index) > 0)) & (stop_index > 0) & (stop_index < len(x) - 1)
    return _Dense(
        x, y, step, np.degrees(heading), curvature, cap, tag, stop_index[keep].astype(np.int64), stop_s[keep]
    )


def _moving_average(values: FloatArray, window: int) -> FloatArray:
    if window <= 1:
        return values
    padded = np.pad(values, window // 2, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def _scheduled_stops(
    profile: _ClassProfile, policy: _Policy, step: FloatArray, tag: IntArray, taken: IntArray
) -> tuple[IntArray, FloatArray]:
    """Regular stops (bus stops, pick-ups, doors), deterministic from the route itself.

    They are spaced by the class's typical distance, kept off excursions and shorter than
    any dwell limit, and drawn from a generator seeded by the route so that adding an
    excursion stop does not move them.
    """
    rng = np.random.default_rng([len(step), int(step.sum() * 1000) % (2**31)])
    s = np.concatenate(([0.0], np.cumsum(step)))
    lo, hi = profile.stop_every_m
    marks = np.cumsum(rng.uniform(lo, hi, int(s[-1] / lo) + 2))
    marks = marks[marks < s[-1] - 50]
    index = np.searchsorted(s, marks)
    near_special = np.zeros(len(s), dtype=np.bool_)
    special = np.flatnonzero(tag > 0)
    if special.size:
        near_special[special] = True
        near_special = np.convolve(near_special, np.ones(201), mode="same") > 0
    index = index[~near_special[index]]
    if taken.size:
        close = (
            np.min(np.abs(index[:, None] - taken[None, :]), axis=1) < 50 if index.size else np.array([], bool)
        )
        index = index[~close] if index.size else index
    top = min(profile.stop_s[1], policy.max_stop_s)
    bottom = min(profile.stop_s[0], top * 0.5)
    return index.astype(np.int64), rng.uniform(bottom, top, len(index))


@dataclass
class _Motion:
    v: FloatArray
    knot_t: FloatArray
    knot_i: FloatArray

    @property
    def t_end(self) -> float:
        return float(self.knot_t[-1])


def _motion(dense: _Dense, profile: _ClassProfile) -> _Motion:
    """Speed along the route under the caps, the cornering limit and acceleration limits.

    With u = v², accelerating at most ``a`` means u[i] <= u[j] + 2a(s[i] - s[j]) for j < i, so
    the fastest profile under a cap is a running minimum: vectorised, no per-point loop.
    """
    s = np.concatenate(([0.0], np.cumsum(dense.step)))
    corner = np.sqrt(profile.lateral / np.maximum(dense.curvature, 1e-6))
    cap = np.minimum(dense.cap, corner)
    ucap = cap**2
    ucap[0] = 0.0
    ucap[-1] = 0.0
    ucap[dense.stop_index] = 0.0
    climb = 2 * profile.accel * s
    forward = climb + np.minimum.accumulate(ucap - climb)
    brake = 2 * profile.decel * s
    backward = np.minimum.accumulate((ucap + brake)[::-1])[::-1] - brake
    v = np.sqrt(np.maximum(np.minimum(forward, backward), 0.0))
    mean = np.maximum((v[:-1] + v[1:]) / 2, 0.05)
    t = np.concatenate(([0.0], np.cumsum(dense.step / mean)))
    dwell_before = np.zeros(len(s))
    np.add.at(dwell_before, np.minimum(dense.stop_index + 1, len(s) - 1), dense.stop_s)
    t = t + np.cumsum(dwell_before)
    index = np.arange(len(s), dtype=np.float64)
    knot_t = np.insert(t, dense.stop_index + 1, t[dense.stop_index] + dense.stop_s)
    knot_i = np.insert(index, dense.stop_index + 1, dense.stop_index.astype(np.float64))
    return _Motion(v, knot_t, knot_i)


def _observe(
    model: _ZoneModel,
    rng: np.random.Generator,
    identity: _Identity,
    truth: _Truth,
) -> _Track:
    """What the vehicle reports: the true motion seen through a GNSS receiver and odometry.

    GNSS error wanders slowly rather than jumping each second, so it is white noise
    smoothed over several seconds, scaled to the accuracy the receiver reports.
    """
    n = model.n
    rate = model.rate
    x, y, v, heading = truth.x, truth.y, truth.v, truth.heading
    accuracy = np.round(
        np.clip(float(rng.uniform(1.0, 3.0)) * np.exp(0.25 * _smooth_noise(rng, n, 60 * rate)), 1.0, 5.0), 1
    ).astype(np.float32)
    sigma = accuracy.astype(np.float64) / math.sqrt(2)
    ex = sigma * _smooth_noise(rng, n, 8 * rate)
    ey = sigma * _smooth_noise(rng, n, 8 * rate)
    lon, lat = model.frame.to_lonlat(x + ex, y + ey)
    lon, lat = np.round(lon, 7), np.round(lat, 7)
    moving = v > 0.3
    speed = np.where(moving, v * 3.6 + rng.normal(0, 0.15, n), np.where(v < 0.05, 0.0, v * 3.6))
    speed = np.maximum(np.round(speed, 2), 0.0).astype(np.float32).astype(np.float64)
    noisy_heading = np.where(moving, heading + rng.normal(0, 0.8, n), heading)
    noisy_heading = np.round(noisy_heading % 360.0, 1) % 360.0
    heading32 = noisy_heading.astype(np.float32).astype(np.float64)
    if rng.random() < 0.15:
        altitude = np.full(n, np.nan)
    else:
        terrain = 40.0 + 12.0 * np.sin(x / 900.0) * np.cos(y / 700.0)
        altitude = np.round(terrain + 1.5 * sigma * _smooth_noise(rng, n, 5 * rate), 1)
        altitude[rng.random(n) < 0.005] = np.nan
    return _Track(
        identity=identity,
        t_ms=model.t_ms,
        sent=truth.sent,
        lon=lon,
        lat=lat,
        altitude=altitude,
        heading=heading32,
        accuracy=accuracy.astype(np.float64),
        speed_kmh=speed,
        mode=truth.mode,
        events=truth.events,
        sequence0=int(rng.integers(0, 5_000_000)),
        protected=truth.protected,
    )


def _smooth_noise(rng: np.random.Generator, n: int, width: float) -> FloatArray:
    """Unit-variance noise correlated over about ``width`` samples."""
    w = max(1, round(width))
    white = rng.normal(0.0, 1.0, n + w - 1)
    return np.convolve(white, np.ones(w) / math.sqrt(w), mode="valid")


# --- the ground truth: rules applied to what was reported ------------------------------------


@dataclass(frozen=True)
class _Finding:
    kind: str
    rule_id: str
    area: str | None
    start_ms: int
    end_ms: int
    detail: dict[str, Any]


def _evaluate(model: _ZoneModel, track: _Track) -> tuple[list[_Finding], bool]:
    """Every violation in the sent samples, and whether any is too close to call.

    A run that lasts within a sample or so of its grace period is "ambiguous": one engine
    may count it and another not, so such a track is generated again.
    """
    rows = np.flatnonzero(track.sent)
    c = track.identity.vehicle_class
    lon, lat, t_ms = track.lon[rows], track.lat[rows], track.t_ms[rows]
    speed, mode = track.speed_kmh[rows], track.mode[rows]
    minute = model.minute_index(t_ms)
    state = model.minute_state[minute]
    membership = np.zeros((len(rows), len(model.area_ids)), dtype=np.bool_)
    for j, geometry in enumerate(model.areas_ll):
        membership[:, j] = shapely.intersects_xy(geometry, lon, lat)
    set_keys, set_of_row = np.unique(membership, axis=0, return_inverse=True)
    set_of_row = set_of_row.reshape(-1)
    area_sets = [
        frozenset(a for a, inside in zip(model.area_ids, key, strict=True) if inside) for key in set_keys
    ]
    combo = set_of_row * len(model.state_time) + state
    combos, combo_of_row = np.unique(combo, return_inverse=True)
    combo_of_row = combo_of_row.reshape(-1)
    band = max(1.5 / model.rate, 1.0)
    findings: list[_Finding] = []
    ambiguous = False
    rules = model.zone.rules
    rule_pos = {id(r): i for i, r in enumerate(rules)}

    def winners(kind: str) -> tuple[IntArray, list[str | None]]:
        pos = np.full(len(combos), -1, dtype=np.int64)
        areas: list[str | None] = []
        for i, code in enumerate(combos):
            w = model.winner(
                kind, area_sets[code // len(model.state_time)], int(code % len(model.state_time)), c
            )
            pos[i] = rule_pos[id(w.rule)] if w is not None else -1
            areas.append(w.area if w is not None else None)
        return pos[combo_of_row], [areas[i] for i in combo_of_row] if areas else []

    def runs(mask: BoolArray, key: IntArray) -> list[tuple[int, int]]:
        marked = np.where(mask, key, -1)
        change = np.flatnonzero(np.diff(marked) != 0) + 1
        bounds = np.concatenate(([0], change, [len(marked)]))
        return [(int(a), int(b) - 1) for a, b in itertools.pairwise(bounds) if marked[a] >= 0]

    def report(
        kind: str, mask: BoolArray, key: IntArray, area_of: list[str | None], *, threshold: Any, detail: Any
    ) -> None:
        nonlocal ambiguous
        for first, last in runs(mask, key):
            rule = rules[int(key[first])]
            limit = threshold(rule)
            seconds = (t_ms[last] - t_ms[first]) / 1000.0
            if abs(seconds - limit) <= band:
                ambiguous = True
            if seconds > limit:
                findings.append(
                    _Finding(
                        kind,
                        rule.id,
                        area_of[first],
                        int(t_ms[first]),
                        int(t_ms[last]),
                        detail(rule, first, last),
                    )
                )

    speed_pos, speed_area = winners("speed_limit")
    limit = np.array(
        [getattr(r, "limit_kmh", np.inf) + getattr(r, "tolerance_kmh", 0.0) for r in rules] + [np.inf]
    )
    report(
        "speed_limit",
        speed > limit[speed_pos],
        speed_pos,
        speed_area,
        threshold=lambda r: r.grace_s,
        detail=lambda r, a, b: {
            "peak_kmh": round(float(speed[a : b + 1].max()), 2),
            "limit_kmh": r.limit_kmh,
            "tolerance_kmh": r.tolerance_kmh,
            "grace_s": r.grace_s,
        },
    )
    mode_pos, mode_area = winners("driving_mode")
    allowed = np.ones((len(rules) + 1, len(_MODES)), dtype=np.bool_)
    for i, r in enumerate(rules):
        if isinstance(r, DrivingModeRule):
            allowed[i] = [m in r.allowed_modes for m in _MODES]
    report(
        "driving_mode",
        ~allowed[mode_pos, mode],
        mode_pos,
        mode_area,
        threshold=lambda r: r.grace_s,
        detail=lambda r, a, b: {
            "modes": sorted({_MODES[m] for m in mode[a : b + 1]}),
            "allowed_modes": [m.value for m in r.allowed_modes],
            "grace_s": r.grace_s,
        },
    )
    hours_pos, hours_area = winners("operating_hours")
    permitted = np.ones(len(rows), dtype=np.bool_)
    for i, r in enumerate(rules):
        if isinstance(r, OperatingHoursRule):
            mine = hours_pos == i
            permitted[mine] = model.permitted_minutes(r)[minute[mine]]
    report(
        "operating_hours",
        ~permitted,
        hours_pos,
        hours_area,
        threshold=lambda r: r.grace_s,
        detail=lambda r, a, b: {"local_start": _local_iso(model, int(t_ms[a])), "grace_s": r.grace_s},
    )
    dwell_pos, dwell_area = winners("dwell")
    below = np.array([getattr(r, "stopped_below_kmh", -np.inf) for r in rules] + [-np.inf])
    report(
        "dwell",
        speed < below[dwell_pos],
        dwell_pos,
        dwell_area,
        threshold=lambda r: r.max_dwell_s,
        detail=lambda r, a, b: {
            "dwell_s": (int(t_ms[b]) - int(t_ms[a])) / 1000.0,
            "max_dwell_s": r.max_dwell_s,
            "stopped_below_kmh": r.stopped_below_kmh,
        },
    )
    for rule in model.zone.rules_of_kind("restricted_area"):
        assert isinstance(rule, RestrictedAreaRule)
        applies = np.array([model.applies(rule, c, s) for s in model.states()])[state]
        columns = [model.area_ids.index(a) for a in rule.applies.areas or [] if a in model.zone.areas]
        inside = membership[:, columns].any(axis=1) & applies
        key = np.full(len(rows), rule_pos[id(rule)], dtype=np.int64)
        innermost = (
            [_innermost(model, rule, membership[i], columns) for i in range(len(rows))]
            if inside.any()
            else []
        )
        report(
            "restricted_area",
            inside,
            key,
            innermost,
            threshold=lambda r: r.grace_s,
            detail=lambda r, a, b: {"grace_s": r.grace_s},
        )
    outside = ~shapely.intersects_xy(model.boundary_ll, lon, lat)
    for rule in model.zone.rules_of_kind("leave_boundary"):
        assert isinstance(rule, LeaveBoundaryRule)
        applies = np.array([model.applies(rule, c, s) for s in model.states()])[state]
        scoped = np.ones(len(rows), dtype=np.bool_)
        if rule.applies.areas is not None:
            columns = [model.area_ids.index(a) for a in rule.applies.areas if a in model.zone.areas]
            scoped = np.asarray(membership[:, columns].any(axis=1), dtype=np.bool_)
        key = np.full(len(rows), rule_pos[id(rule)], dtype=np.int64)
        report(
            "leave_boundary",
            outside & applies & scoped,
            key,
            [None] * len(rows),
            threshold=lambda r: r.grace_s,
            detail=lambda r, a, b: {
                "grace_s": r.grace_s,
                "max_distance_m": round(_max_distance_outside(model, lon[a : b + 1], lat[a : b + 1]), 1),
            },
        )
    findings.extend(_permit_findings(model, track, t_ms, state))
    where = _Whereabouts(rows, state, set_of_row, area_sets)
    gap_findings, gap_ambiguous = _gap_findings(model, track, where, band)
    findings.extend(gap_findings)
    ambiguous |= gap_ambiguous
    for k, reported in sorted(track.events.items()):
        if not track.sent[k]:
            continue
        row = int(np.searchsorted(rows, k))
        for event, initiator in reported:
            w = model.winner(
                "vehicle_event",
                area_sets[set_of_row[row]],
                int(state[row]),
                c,
                event=event,
                initiator=initiator,
            )
            if w is not None and isinstance(w.rule, VehicleEventRule):
                detail: dict[str, Any] = {"event": event, "initiated_by": initiator}
                if w.rule.report_within_h is not None:
                    detail["report_within_h"] = w.rule.report_within_h
                findings.append(
                    _Finding("vehicle_event", w.rule.id, w.area, int(t_ms[row]), int(t_ms[row]), detail)
                )
    return findings, ambiguous


def _innermost(model: _ZoneModel, rule: Rule, inside: BoolArray, columns: list[int]) -> str | None:
    present = [model.area_ids[j] for j in columns if inside[j]]
    if not present:
        return None
    return min(present, key=lambda a: (model.zone.areas[a].area_m2, a))


def _max_distance_outside(model: _ZoneModel, lon: FloatArray, lat: FloatArray) -> float:
    x, y = model.frame.to_local(lon, lat)
    return float(shapely.distance(model.boundary_local, shapely.points(x, y)).max())


def _permit_findings(model: _ZoneModel, track: _Track, t_ms: IntArray, state: IntArray) -> list[_Finding]:
    """A vehicle its operator is not permitted to run: one finding over all of its samples."""
    identity = track.identity
    operator = next((op for op in model.zone.config.operators if op.id == identity.operator_id), None)
    if operator is not None and identity.vehicle_class in operator.vehicle_classes:
        return []
    reason = "operator has no permit" if operator is None else "class not permitted for operator"
    found = []
    for rule in model.zone.rules_of_kind("permit"):
        assert isinstance(rule, PermitRule)
        if rule.applies.areas is not None:
            continue
        applies = np.array([model.applies(rule, identity.vehicle_class, s) for s in model.states()])[state]
        if applies.any():
            rows = np.flatnonzero(applies)
            found.append(
                _Finding("permit", rule.id, None, int(t_ms[rows[0]]), int(t_ms[rows[-1]]), {"reason": reason})
            )
    return found


@dataclass(frozen=True)
class _Whereabouts:
    """Where and when each sent sample was, as rule lookups need it."""

    rows: IntArray
    """Positions of the sent samples among all sample times."""
    state: IntArray
    """Schedule state of each sent sample."""
    set_of_row: IntArray
    """Index into ``area_sets`` of each sent sample."""
    area_sets: list[frozenset[str]]


def _gap_findings(
    model: _ZoneModel, track: _Track, where: _Whereabouts, band: float
) -> tuple[list[_Finding], bool]:
    """Silences longer than the telemetry_gap rule in force where the vehicle fell silent,
    including one that lasts to the end of the window."""
    rows, state, set_of_row, area_sets = where.rows, where.state, where.set_of_row, where.area_sets
    c = track.identity.vehicle_class
    t_ms = track.t_ms[rows]
    gaps = np.diff(t_ms) / 1000.0
    found: list[_Finding] = []
    ambiguous = False
    candidates = [
        (int(i), float(gaps[i]), True, int(t_ms[i + 1])) for i in np.flatnonzero(gaps > 1.5 / model.rate)
    ]
    trailing = (model.end_ms - int(t_ms[-1])) / 1000.0
    if trailing > 1.5 / model.rate:
        candidates.append((len(rows) - 1, trailing, False, model.end_ms))
    for i, seconds, resumed, end_ms in candidates:
        w = model.winner("telemetry_gap", area_sets[set_of_row[i]], int(state[i]), c)
        if w is None or not isinstance(w.rule, TelemetryGapRule):
            continue
        max_gap = w.rule.max_gap_s
        if abs(seconds - max_gap) <= band:
            ambiguous = True
        if seconds > max_gap:
            skipped = int(rows[i + 1] - rows[i] - 1) if resumed else int(model.n - 1 - rows[i])
            found.append(
                _Finding(
                    "telemetry_gap",
                    w.rule.id,
                    w.area,
                    int(t_ms[i]),
                    end_ms,
                    {"gap_s": seconds, "max_gap_s": max_gap, "resumed": resumed, "samples_not_sent": skipped},
                )
            )
    return found, ambiguous


def _local_iso(model: _ZoneModel, t_ms: int) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000.0, model.zone.config.tz).isoformat(timespec="seconds")


# --- records, defects and files --------------------------------------------------------------


@dataclass
class _Record:
    nominal_ms: int
    value: dict[str, Any]


def _records(track: _Track) -> list[_Record]:
    """One Avro-ready dict per sent sample, in the order the vehicle sends them."""
    rows = np.flatnonzero(track.sent)
    identity = track.identity
    t = track.t_ms[rows].tolist()
    seq = (track.sequence0 + rows).tolist()
    lat = track.lat[rows].tolist()
    lon = track.lon[rows].tolist()
    alt_values = track.altitude[rows]
    alt = [None if math.isnan(a) else a for a in alt_values.tolist()]
    heading = track.heading[rows].tolist()
    accuracy = track.accuracy[rows].tolist()
    speed = track.speed_kmh[rows].tolist()
    modes = track.mode[rows].tolist()
    no_events: list[dict[str, Any]] = []
    events = {
        k: [{"kind": kind, "initiated_by": by} for kind, by in reported]
        for k, reported in track.events.items()
    }
    row_list = rows.tolist()
    out = []
    for i, row in enumerate(row_list):
        mode = _MODES[modes[i]]
        out.append(
            _Record(
                t[i],
                {
                    "vehicle_id": identity.vehicle_id,
                    "operator_id": identity.operator_id,
                    "vehicle_class": identity.vehicle_class,
                    "sequence_number": seq[i],
                    "current_location_timestamp": t[i],
                    "current_location_latitude": lat[i],
                    "current_location_longitude": lon[i],
                    "current_location_altitude": alt[i],
                    "current_location_heading": heading[i],
                    "current_location_horizontal_accuracy": accuracy[i],
                    "speed": speed[i],
                    "driving_mode": mode,
                    "active_autonomy_level": 4 if mode == "AUTONOMOUS" else None,
                    "events": events.get(row, no_events),
                },
            )
        )
    return out


def _apply_defects(
    track: _Track,
    records: list[_Record],
    rng: np.random.Generator,
    findings: Sequence[_Finding],
) -> list[_Finding]:
    """Break the contract once in one of the ways vehicles do, away from any violation."""
    rows = np.flatnonzero(track.sent)
    protected = track.protected[rows].copy()
    for f in findings:
        protected |= (track.t_ms[rows] >= f.start_ms - 5000) & (track.t_ms[rows] <= f.end_ms + 5000)
    protected[:3] = True
    protected[-3:] = True
    choices = np.flatnonzero(~protected)
    if choices.size == 0:
        return []
    i = int(choices[int(rng.integers(choices.size))])
    defect = DEFECT_KINDS[int(rng.integers(len(DEFECT_KINDS)))]
    value = records[i].value
    t = int(value["current_location_timestamp"])
    detail: dict[str, Any] = {"defect": defect, "sequence_number": value["sequence_number"]}
    if defect == "nan":
        value["current_location_latitude"] = math.nan
        detail.update(field="current_location_latitude", value="NaN")
    elif defect == "out_of_range":
        name, bad = [
            ("current_location_latitude", 90.0 + float(rng.uniform(1, 9))),
            ("current_location_heading", 360.0 + float(rng.uniform(1, 300))),
            ("speed", -float(rng.uniform(1, 20))),
            ("current_location_horizontal_accuracy", -float(rng.uniform(1, 5))),
        ][int(rng.integers(4))]
        bad = round(bad, 1)
        value[name] = bad
        detail.update(field=name, value=bad)
    elif defect == "duplicate_sequence":
        records.insert(i + 1, _Record(records[i].nominal_ms, dict(value)))
    else:
        previous = int(records[i - 1].value["current_location_timestamp"])
        value["current_location_timestamp"] = previous - int(rng.integers(100, 501))
        detail.update(reported_ms=value["current_location_timestamp"], expected_ms=t)
    return [_Finding("defect", defect, None, t, t, detail)]


def _ground_truth_line(model: _ZoneModel, identity: _Identity, finding: _Finding) -> str:
    line = {
        "vehicle_id": identity.vehicle_id,
        "operator_id": identity.operator_id,
        "vehicle_class": identity.vehicle_class,
        "pilot_zone": model.zone.zone_id,
        "rule_kind": finding.kind,
        "rule_id": finding.rule_id,
        "area": finding.area,
        "start_time": rfc3339(finding.start_ms),
        "end_time": rfc3339(finding.end_ms),
        "detail": finding.detail,
    }
    return json.dumps(line, allow_nan=False, separators=(",", ":"))


def rfc3339(t_ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 UTC with milliseconds, ``2026-11-23T01:00:05.000Z``."""
    moment = dt.datetime.fromtimestamp(t_ms // 1000, dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{t_ms % 1000:03d}Z"


def _write_files(
    model: _ZoneModel, task: _Task, vehicle_id: str, records: list[_Record], out: Path
) -> tuple[int, int, set[int], int]:
    """One container file per slice the vehicle sent samples in; returns files, bytes, slices, samples."""
    options = model.options
    slice_ms = options.slice_s * 1000
    schema = writer_schema(TELEMETRY)
    files = 0
    size = 0
    slices: set[int] = set()
    start = 0
    zone_dir = out / TELEMETRY_DIR / model.zone.zone_id
    while start < len(records):
        slice_start = records[start].nominal_ms // slice_ms * slice_ms
        end = start
        while end < len(records) and records[end].nominal_ms < slice_start + slice_ms:
            end += 1
        name = dt.datetime.fromtimestamp(slice_start / 1000, dt.UTC).strftime(SLICE_FORMAT)
        folder = zone_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        marker = hashlib.sha256(
            f"pilotzone-simulate:{options.seed}:{model.zone.zone_id}:{task.index}:{slice_start}".encode()
        ).digest()[:16]
        buffer = io.BytesIO()
        fastavro.writer(
            buffer, schema, [r.value for r in records[start:end]], codec=options.codec, sync_marker=marker
        )
        data = buffer.getvalue()
        (folder / f"{vehicle_id}.avro").write_bytes(data)
        files += 1
        size += len(data)
        slices.add(slice_start)
        start = end
    return files, size, slices, len(records)


# --- manifest and codecs ---------------------------------------------------------------------


def _manifest(options: SimulationOptions, plans: Sequence[_ZonePlan], totals: _Totals) -> dict[str, Any]:
    """What was asked for and what came out; nothing here depends on the machine or the clock."""
    zones = []
    for plan, zone_totals in zip(plans, totals.zones, strict=True):
        model = plan.model
        injected = {}
        for kind in RULE_KINDS:
            if kind not in plan.requested:
                continue
            injected[kind] = {
                "requested": plan.requested[kind],
                "injected": zone_totals.injected.get(kind, 0),
                "failed": zone_totals.failed.get(kind, 0),
                "failure_reasons": sorted(zone_totals.failed_reasons.get(kind, set())),
            }
        zones.append(
            {
                "zone_id": model.zone.zone_id,
                "version": model.zone.version,
                "start": rfc3339(model.start_ms),
                "end": rfc3339(model.end_ms),
                "local_start": model.start.isoformat(),
                "vehicles": zone_totals.vehicles,
                "vehicle_classes": dict(sorted(zone_totals.classes.items())),
                "samples_written": zone_totals.samples,
                "files": zone_totals.files,
                "bytes": zone_totals.bytes,
                "slices": [
                    dt.datetime.fromtimestamp(s / 1000, dt.UTC).strftime(SLICE_FORMAT)
                    for s in sorted(zone_totals.slices)
                ],
                "injected": injected,
                "not_injectable": dict(sorted(plan.not_injectable.items())),
                "ground_truth": dict(sorted(zone_totals.findings.items())),
                "incidental_findings": zone_totals.incidental,
                "defects": zone_totals.defects,
            }
        )
    schema = schema_dict(TELEMETRY)
    return {
        "generator": "pilotzone simulate",
        "seed": options.seed,
        "options": {
            "vehicles_per_zone": options.vehicles,
            "duration_s": options.duration_s,
            "rate_hz": options.rate_hz,
            "start": options.start.isoformat() if options.start else None,
            "slice_s": options.slice_s,
            "codec": options.codec,
            "inject": dict(sorted(options.inject.items())),
            "defects": options.defects,
        },
        "schema": {"name": f"{schema['namespace']}.{schema['name']}", "version": schema_version(TELEMETRY)},
        "layout": f"{TELEMETRY_DIR}/<zone_id>/<slice start, {SLICE_FORMAT}>/<vehicle_id>.avro",
        "ground_truth_file": GROUND_TRUTH_FILE,
        "samples_written": sum(z.samples for z in totals.zones),
        "files": sum(z.files for z in totals.zones),
        "bytes": sum(z.bytes for z in totals.zones),
        "zones": zones,
    }


_CODECS: list[tuple[str, ...]] = []


def _available_codecs() -> tuple[str, ...]:
    if not _CODECS:
        usable = []
        for codec in _CODEC_CANDIDATES:
            try:
                fastavro.writer(io.BytesIO(), telemetry_schema(), [], codec=codec)
            except (ValueError, ImportError, NotImplementedError):
                continue
            usable.append(codec)
        _CODECS.append(tuple(usable))
    return _CODECS[0]
