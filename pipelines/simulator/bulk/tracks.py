"""One vehicle's hour of telemetry, built with array operations from its own random stream.

A vehicle of a permitted class drives a route of random legs through the zone's districts and
pick-up bays at a cruise speed below every limit it meets, stopping now and then (traffic,
pick-ups) for less than any dwell limit. At most one injection per vehicle, drawn with the
rates given (``site`` says how each is placed so that it yields exactly one incident):

* ``speed_limit``: a stretch above every limit of its class, longer than their grace;
* ``dwell``: half of them stopped past the zone-wide limit away from dwell areas, half parked
  in a pick-up bay past the bay limit from the first fix;
* ``restricted_area``: a pass through a restricted area, starting outside it;
* ``vehicle_event``: a disengagement (a remote take-over for robots), then a minute driven by
  the safety driver or the remote operator.

Everything a vehicle gets is drawn from ``numpy.random.default_rng([seed, index])``, so a
vehicle's records do not depend on the fleet size, the chunking or the worker processes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from pilotzone.pipelines.simulator.bulk.site import ClassPlan, Site, Target, legs_ok, regime_codes
from pilotzone.schemas.batch import DRIVING_MODES, EVENT_KINDS, INITIATORS, NO_LEVEL, VEHICLE_CLASSES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

INJECTED_KINDS: tuple[str, ...] = ("speed_limit", "dwell", "restricted_area", "vehicle_event")
"""The rule kinds the bulk writer injects, each with one incident per injected vehicle."""

AUTONOMY_LEVEL = 4
TAKEOVER_S = 60
"""How long a vehicle is driven by a person after a disengagement or take-over."""
TRIES = 30
"""Placements tried for an injection before the vehicle is drawn again."""


@dataclass(frozen=True)
class VehicleTrack:
    """One vehicle's records as columns (positions in degrees) and what was injected into it."""

    vehicle_class: str
    operator_id: str
    injected: str | None
    time_ms: IntArray
    sequence: IntArray
    longitude: FloatArray
    latitude: FloatArray
    altitude: FloatArray
    heading: FloatArray
    accuracy: FloatArray
    speed_kmh: FloatArray
    mode: IntArray
    level: IntArray
    event: IntArray
    initiator: IntArray


def _choose_injection(rng: np.random.Generator, rates: Mapping[str, float]) -> str | None:
    draw = rng.random()
    for kind in INJECTED_KINDS:
        rate = rates.get(kind, 0.0)
        if draw < rate:
            return kind
        draw -= rate
    return None


def _random_point(site: Site, rng: np.random.Generator) -> tuple[float, float]:
    min_x, min_y, max_x, max_y = site.allowed.bounds
    while True:
        x = rng.uniform(min_x, max_x, 64)
        y = rng.uniform(min_y, max_y, 64)
        inside = np.flatnonzero(shapely.contains_xy(site.allowed, x, y))
        if len(inside):
            return float(x[inside[0]]), float(y[inside[0]])


def _route(
    site: Site, rng: np.random.Generator, plan: ClassPlan, start: list[tuple[float, float]], need_m: float
) -> tuple[FloatArray, FloatArray]:
    """Waypoints from ``start`` on, random legs on allowed ground, at least ``need_m`` long."""
    points = list(start)
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(points))
    low, high = plan.profile.leg_m
    while length < need_m:
        here = points[-1]
        legs = rng.uniform(2 * low, 2 * high, 16)
        angles = rng.uniform(0, 2 * math.pi, 16)
        x1 = here[0] + legs * np.sin(angles)
        y1 = here[1] + legs * np.cos(angles)
        ok = np.flatnonzero(legs_ok(site, here, x1, y1))
        if len(ok):
            step = (float(x1[ok[0]]), float(y1[ok[0]]))
        elif len(points) > 1:
            step = points[-2]  # a dead end: back the way it came, which is known to be clear
        else:
            step = _random_point(site, rng)
            points = [step]
            length = 0.0
            continue
        length += math.dist(here, step)
        points.append(step)
    route = np.asarray(points, dtype=np.float64)
    return route[:, 0], route[:, 1]


def _restricted_pass(
    site: Site, rng: np.random.Generator, target: Target, cruise: float
) -> list[tuple[float, float]] | None:
    """Waypoints outside ``target``, its centre, and outside again, touching no other kept-out area."""
    cx, cy = target.centre
    angles = rng.uniform(0, 2 * math.pi, 32)
    before = target.radius_m + cruise * rng.uniform(60, 300, 32)
    ax, ay = cx + before * np.sin(angles), cy + before * np.cos(angles)
    ins = legs_ok(site, target.centre, ax, ay, obstacles=target.others)
    after = target.radius_m + rng.uniform(300, 800, 32)
    bx, by = cx + after * np.sin(angles[::-1]), cy + after * np.cos(angles[::-1])
    outs = legs_ok(site, target.centre, bx, by, obstacles=target.others)
    a = np.flatnonzero(ins)
    b = np.flatnonzero(outs)
    if not len(a) or not len(b):
        return None
    return [(float(ax[a[0]]), float(ay[a[0]])), target.centre, (float(bx[b[0]]), float(by[b[0]]))]


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _positions(
    speed: FloatArray, route_x: FloatArray, route_y: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    along = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    legs = np.hypot(np.diff(route_x), np.diff(route_y))
    cumulative = np.concatenate([[0.0], np.cumsum(legs)])
    x = np.interp(along, cumulative, route_x)
    y = np.interp(along, cumulative, route_y)
    leg = np.clip(np.searchsorted(cumulative, along, side="right") - 1, 0, len(legs) - 1)
    bearing = np.degrees(np.arctan2(np.diff(route_x), np.diff(route_y))) % 360.0
    return x, y, bearing[leg]


def vehicle_track(
    site: Site, seed: int, index: int, *, samples: int, start_ms: int, rates: Mapping[str, float]
) -> VehicleTrack:
    """The records of vehicle ``index`` (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    weights = np.array([plan.profile.weight for plan in site.classes])
    plan = site.classes[int(rng.choice(len(site.classes), p=weights / weights.sum()))]
    injected = _choose_injection(rng, rates)
    for _ in range(TRIES):
        track = _attempt(site, rng, plan, injected, samples=samples, start_ms=start_ms)
        if track is not None:
            return track
    raise RuntimeError(f"vehicle {index}: no placement of its injection fits in {samples} s")


def _attempt(
    site: Site,
    rng: np.random.Generator,
    plan: ClassPlan,
    injected: str | None,
    *,
    samples: int,
    start_ms: int,
) -> VehicleTrack | None:
    profile = plan.profile
    cruise = rng.uniform(*plan.cruise_kmh) / 3.6
    top = plan.cruise_kmh[1] / 3.6
    wobble = np.convolve(rng.normal(0.0, 1.0, samples), np.ones(15) / math.sqrt(15), mode="same")
    speed = np.clip(cruise * (1 + 0.04 * wobble), 0.6 * cruise, top)
    moment = rng.uniform(*profile.stop_every_m) / cruise
    while moment < samples:
        pause = rng.uniform(*profile.stop_s)
        speed[int(moment) : int(moment + pause)] = 0.0
        moment += pause + rng.uniform(*profile.stop_every_m) / cruise

    start: list[tuple[float, float]] = []
    span = (0, 0)
    target: Target | None = None
    kind = injected
    if kind == "dwell" and site.bays and rng.random() < 0.5:
        kind = "bay_dwell"
        start = [site.bays[int(rng.integers(len(site.bays)))]]
        span = (0, int(site.bay_dwell_s) + 90)
        speed[: span[1]] = 0.0
    elif kind == "dwell":
        length = int(site.free_dwell_s) + 120
        first = int(rng.integers(120, max(121, samples - length - 120)))
        span = (first, first + length)
        speed[first : first + length] = 0.0
    elif kind == "speed_limit":
        length = int(plan.speed_grace_s) + int(rng.integers(15, 31))
        first = int(rng.integers(60, max(61, samples - length - 60)))
        span = (first, first + length)
        speed[first : first + length] = plan.speeding_kmh / 3.6 * (1 + 0.02 * rng.random(length))
    elif kind == "restricted_area":
        target = site.targets[int(rng.integers(len(site.targets)))]
        passage = _restricted_pass(site, rng, target, cruise)
        if passage is None:
            return None
        start = passage
    window = 5 if cruise > 3 else 3
    speed = np.convolve(speed, np.ones(window) / window, mode="same")
    speed[speed < 0.05] = 0.0
    if span[1] > samples:
        return None

    if not start:
        start = [_random_point(site, rng)]
    route_x, route_y = _route(site, rng, plan, start, float(speed.sum()) + 50.0)
    x, y, heading = _positions(speed, route_x, route_y)
    if (
        kind == "dwell"
        and shapely.contains_xy(site.dwell_areas, x[span[0] : span[1]], y[span[0] : span[1]]).any()
    ):
        return None
    if (
        kind == "speed_limit"
        and len(set(regime_codes(plan, x[span[0] : span[1]], y[span[0] : span[1]]).tolist())) != 1
    ):
        return None
    if target is not None:
        inside = _runs(shapely.contains_xy(target.shape, x, y))
        if len(inside) != 1 or inside[0][1] - inside[0][0] < target.grace_s + 10:
            return None

    mode = np.full(samples, DRIVING_MODES.index("AUTONOMOUS"), dtype=np.int64)
    level = np.full(samples, AUTONOMY_LEVEL, dtype=np.int64)
    event = np.full(samples, -1, dtype=np.int64)
    initiator = np.full(samples, NO_LEVEL, dtype=np.int64)
    if kind == "vehicle_event":
        moment = int(rng.integers(60, samples - TAKEOVER_S - 1))
        if profile.has_driver:
            event[moment] = EVENT_KINDS.index("DISENGAGEMENT")
            initiator[moment] = INITIATORS.index("SAFETY_DRIVER")
            mode[moment : moment + TAKEOVER_S] = DRIVING_MODES.index("MANUAL")
        else:
            event[moment] = EVENT_KINDS.index("REMOTE_TAKEOVER")
            initiator[moment] = INITIATORS.index("REMOTE_OPERATOR")
            mode[moment : moment + TAKEOVER_S] = DRIVING_MODES.index("REMOTE_OPERATED")
        level[moment : moment + TAKEOVER_S] = NO_LEVEL

    accuracy = rng.uniform(0.8, 2.5) + 0.3 * rng.random(samples)
    jitter = rng.normal(0.0, 0.4, (2, samples))
    lon, lat = site.frame.to_lonlat(x + jitter[0], y + jitter[1])
    if profile.has_driver:
        altitude = rng.uniform(20.0, 80.0) + np.cumsum(rng.normal(0.0, 0.05, samples))
    else:
        altitude = np.full(samples, np.nan)
    moving = speed > 0
    reported = np.where(moving, np.maximum(speed * 3.6 + rng.normal(0.0, 0.2, samples), 0.0), 0.0)
    time_ms = start_ms + int(rng.integers(0, 1000)) + 1000 * np.arange(samples, dtype=np.int64)
    return VehicleTrack(
        vehicle_class=plan.vehicle_class,
        operator_id=plan.operator_id,
        injected=injected,
        time_ms=time_ms,
        sequence=int(rng.integers(0, 1_000_000)) + np.arange(samples, dtype=np.int64),
        longitude=lon,
        latitude=lat,
        altitude=altitude,
        heading=heading,
        accuracy=accuracy,
        speed_kmh=reported,
        mode=mode,
        level=level,
        event=event,
        initiator=initiator,
    )


def class_code(vehicle_class: str) -> int:
    """The contract's enum index of a vehicle class."""
    return VEHICLE_CLASSES.index(vehicle_class)
