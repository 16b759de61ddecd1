"""Routes in the zone's metre frame: a street-grid-like drive inside the class's region, with
each planned excursion (a speeding leg, a chord through an area, a loop out of the zone)
spliced in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from pilotzone.pipelines.simulator.injection import Drive, NoPlaceError, Special
from pilotzone.pipelines.simulator.opportunities import longest_grace
from pilotzone.pipelines.simulator.track import BoolArray, FloatArray, IntArray
from pilotzone.pipelines.simulator.zone_model import MARGIN_M


@dataclass
class Route:
    """A route as waypoints with, per leg, a speed cap, the excursion it belongs to and a stop."""

    points: FloatArray
    """Waypoints, (k + 1, 2) metres in the zone frame."""
    cap_kmh: FloatArray
    """Speed cap on each leg (k)."""
    tag: IntArray
    """Special the leg belongs to (0 for none)."""
    stop_s: FloatArray
    """Dwell at the end of each leg."""


def build_route(drive: Drive, length_m: float, specials: Sequence[Special]) -> Route:
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
    targets = [special_target(drive, special) for special in pending]
    start = None
    if pending:
        start = random_point_near(rng, region, targets[0], float(np.clip(0.5 * triggers[0], 50, 2500)))
    if start is None:
        start = random_points(rng, region, 1)[0]
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
            legs = special_legs(drive, here, pending[0])
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
                raise NoPlaceError(
                    pending[0].injection, f"no place on the route for its {pending[0].shape} excursion"
                )
            toward = targets[0]
        previous = points[-2] if len(points) > 1 else None
        end = next_waypoint(rng, region, here, heading, leg_m=(lo, hi), previous=previous, toward=toward)
        travelled += float(np.hypot(*(end - here)))
        step = end - here
        heading = math.atan2(step[0], step[1])
        points.append(end)
        caps.append(cruise_kmh)
        tags.append(0)
        stops.append(0.0)
    return Route(np.array(points), np.array(caps), np.array(tags, dtype=np.int64), np.array(stops))


def special_target(drive: Drive, special: Special) -> FloatArray:
    """Where the route heads for an excursion: a point of its area, of the boundary, or of
    the open road."""
    model, rng = drive.model, drive.rng
    if special.shape == "boundary":
        ring = model.boundary_local.boundary
        return shapely.get_coordinates(
            shapely.line_interpolate_point(ring, float(rng.uniform()), normalized=True)
        )[0]
    if special.shape == "speed":
        return random_points(rng, model.plain_region(drive.policy.vehicle_class), 1)[0]
    assert special.area is not None
    edge = model.areas_local[special.area].boundary
    return shapely.get_coordinates(
        shapely.line_interpolate_point(edge, float(rng.uniform()), normalized=True)
    )[0]


def random_point_near(
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


def random_points(rng: np.random.Generator, region: BaseGeometry, count: int) -> FloatArray:
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
        raise NoPlaceError(None, "the region is too small to place points in")
    return np.concatenate(found)[:count]


def segments_inside(region: BaseGeometry, starts: FloatArray, ends: FloatArray) -> BoolArray:
    """Whether each straight segment lies inside a region, vectorised over the segments."""
    lines = shapely.linestrings(np.stack((starts, ends), axis=1))
    return np.asarray(shapely.contains(region, lines), dtype=np.bool_)


def next_waypoint(
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
        ok = segments_inside(region, np.broadcast_to(here, ends.shape), ends)
        if ok.any():
            return ends[int(np.argmax(ok))]
    if previous is not None:
        return previous.copy()  # a U-turn back along the leg just driven always fits
    raise NoPlaceError(None, "stuck at the start of the route")


Leg = tuple[FloatArray, float, float]
"""One leg of a route: where it ends, its speed cap in km/h and the stop at its end in s."""


def special_legs(drive: Drive, here: FloatArray, special: Special) -> list[Leg] | None:
    """Legs (end, cap km/h, stop s) of an excursion starting from ``here``, or None if it does
    not fit from here (the route then drives on and tries again)."""
    if special.shape == "speed":
        return speed_leg(drive, here, special)
    if special.shape == "boundary":
        return boundary_loop(drive, here)
    return area_chord(drive, here, special)


def approach_m(cruise_kmh: float) -> float:
    """How far a straight drive to an excursion may be: about four minutes at cruise."""
    return max(150.0, cruise_kmh / 3.6 * 240)


def speed_leg(drive: Drive, here: FloatArray, special: Special) -> list[Leg] | None:
    """A straight leg long enough to hold the target speed for well over the grace period."""
    model, rng, policy, cruise_kmh = drive.model, drive.rng, drive.policy, drive.cruise_kmh
    assert special.cap_kmh is not None
    target = special.cap_kmh / 3.6
    grace = longest_grace(model, "speed_limit", policy.vehicle_class)
    ramp = max(0.0, target**2 - (cruise_kmh / 3.6) ** 2) / (2 * policy.profile.accel)
    ramp_down = target**2 / (2 * policy.profile.decel)
    need = target * (grace + float(rng.uniform(8, 20))) + ramp + ramp_down + 4 * policy.profile.smooth_m
    headings = rng.uniform(0, 2 * math.pi, 24)
    ends = here + need * np.column_stack((np.sin(headings), np.cos(headings)))
    ok = segments_inside(model.plain_region(policy.vehicle_class), np.broadcast_to(here, ends.shape), ends)
    if not ok.any():
        return None
    return [(here.copy(), cruise_kmh, 0.0), (ends[int(np.argmax(ok))], special.cap_kmh, 0.0)]


def area_chord(drive: Drive, here: FloatArray, special: Special) -> list[Leg] | None:
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
    grace = longest_grace(model, special.injection, policy.vehicle_class)
    inside_need = speed * (grace + 8.0)
    edge = area.boundary
    nearest = float(shapely.line_locate_point(edge, shapely.points(here)))
    along = (nearest + rng.uniform(-1, 1, count) * approach_m(cruise_kmh)) % edge.length
    entry = shapely.get_coordinates(shapely.line_interpolate_point(edge, along))
    try:
        inward = random_points(rng, area, count) - entry
    except NoPlaceError:
        return None
    depth_to_centre = np.maximum(np.hypot(*inward.T), 1e-6)
    u = inward / depth_to_centre[:, None]
    e = entry - u * (MARGIN_M + rng.uniform(20, 150, count)[:, None] * scale)
    if special.injection == "speed_limit":
        rays = shapely.linestrings(np.stack((entry, entry + u * 20_000), axis=1))
        across = np.asarray(shapely.length(shapely.intersection(rays, area)))
        p = entry + u * (across / 2)[:, None]
        f = entry + u * (across + MARGIN_M + rng.uniform(20, 150, count) * scale)[:, None]
    else:
        depth = np.minimum(inside_need / 2 + 15, 0.9 * depth_to_centre)
        p = entry + u * depth[:, None]
        turn = rng.choice([-1.0, 1.0], count) * rng.uniform(2.1, 2.7, count)
        cos, sin = np.cos(turn), np.sin(turn)
        back = np.column_stack((u[:, 0] * cos - u[:, 1] * sin, u[:, 0] * sin + u[:, 1] * cos))
        f = p + back * (depth + MARGIN_M + rng.uniform(20, 150, count) * scale)[:, None]
    ok = shapely.contains_xy(policy.region, e[:, 0], e[:, 1]) & shapely.contains_xy(
        policy.region, f[:, 0], f[:, 1]
    )
    ok &= np.hypot(*(e - here).T) < approach_m(cruise_kmh)
    ok &= segments_inside(corridor, e, p) & segments_inside(corridor, p, f)
    ok &= segments_inside(policy.region, np.broadcast_to(here, e.shape), e)
    if not ok.any():
        return None
    i = int(np.argmax(ok))
    path = shapely.linestrings(np.array([e[i], p[i], f[i]]))
    length_inside = float(shapely.length(shapely.intersection(path, area)))
    stop = special.stop_s
    if special.injection != "speed_limit" and length_inside < inside_need:
        stop = max(stop, min(policy.max_stop_s, grace + 10.0))
    return [(e[i], cruise_kmh, 0.0), (p[i], cap, stop), (f[i], cap, 0.0)]


def boundary_loop(drive: Drive, here: FloatArray) -> list[Leg] | None:
    """Out of the zone and back: here → E → O → O2 → E2, with O and O2 well outside."""
    model, rng, policy, cruise_kmh = drive.model, drive.rng, drive.policy, drive.cruise_kmh
    grace = longest_grace(model, "leave_boundary", policy.vehicle_class)
    speed = cruise_kmh / 3.6
    scale = min(1.0, speed / 8)  # a walking-pace robot makes a smaller loop
    out_m = max(MARGIN_M / 2 + 20, speed * (grace + 12.0) / 2 + 40.0 * scale)
    ring = model.boundary_local.boundary
    nearest = float(shapely.line_locate_point(ring, shapely.points(here)))
    along = (nearest + rng.uniform(-1, 1, 48) * approach_m(cruise_kmh)) % ring.length
    edge = shapely.get_coordinates(shapely.line_interpolate_point(ring, along))
    # Roughly away from where the vehicle is, which is out of the zone near the edge.
    angle = np.arctan2(edge[:, 0] - here[0], edge[:, 1] - here[1]) + rng.normal(0, 0.5, 48)
    u = np.column_stack((np.sin(angle), np.cos(angle)))
    side = np.column_stack((u[:, 1], -u[:, 0])) * 25.0 * max(scale, 0.4)
    e = edge - u * (MARGIN_M + rng.uniform(20, 120, 48)[:, None] * scale)
    o = edge + u * out_m
    o2, e2 = o + side, e + side
    outside = model.boundary_local.buffer(MARGIN_M / 2)
    ok = shapely.contains_xy(policy.region, e[:, 0], e[:, 1]) & shapely.contains_xy(
        policy.region, e2[:, 0], e2[:, 1]
    )
    ok &= ~shapely.intersects_xy(outside, o[:, 0], o[:, 1]) & ~shapely.intersects_xy(
        outside, o2[:, 0], o2[:, 1]
    )
    ok &= segments_inside(policy.region, np.broadcast_to(here, e.shape), e)
    ok &= np.hypot(*(e - here).T) < approach_m(cruise_kmh)
    if not ok.any():
        return None
    candidates = np.flatnonzero(ok)
    avoided = [model.areas_local[a].buffer(MARGIN_M) for a in policy.avoid]
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
