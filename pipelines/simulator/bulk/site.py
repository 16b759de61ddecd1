"""The zone as the bulk writer drives it: where vehicles may go, and where each injection lands.

Everything is in metres of one local frame (``geo.LocalFrame``) so that routes, buffers and
distances are plain planar geometry; positions go back to longitude/latitude only when written.

Vehicles drive freely through districts and through areas that carry nothing but dwell rules
(pick-up bays, depots); every other area (school zones, restricted areas, corridors, sidewalks)
is *kept out of* baseline routes, so a baseline vehicle breaks no rule and each injection
produces exactly one incident of its kind:

* speeding: above every speed limit of the vehicle's class that applies where it may drive,
  over a stretch that stays in one speed regime (the incident cannot change rule mid-way);
* dwell: stopped past the zone-wide limit away from every dwell area, or past the largest
  area-scoped limit inside one of its areas (a pick-up bay);
* restricted area: one pass through an area of a ``restricted_area`` rule, straight in to its
  centre and straight out, touching no other kept-out area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely import affinity

from pilotzone.geo import LocalFrame
from pilotzone.pipelines.simulator.profiles import PROFILES, ClassProfile
from pilotzone.zones.kinds.dwell import DwellRule
from pilotzone.zones.kinds.restricted_area import RestrictedAreaRule
from pilotzone.zones.kinds.speed_limit import SpeedLimitRule
from pilotzone.zones.zone import Zone

FloatArray = npt.NDArray[np.float64]

EDGE_MARGIN_M = 400.0
"""Routes stay this far inside the boundary, so a fix's noise never reads as leaving it."""
KEEP_OUT_MARGIN_M = 40.0
"""Routes stay this far from kept-out areas."""


@dataclass(frozen=True)
class ClassPlan:
    """How vehicles of one class drive here: the operator holding their permit, their profile,
    the speeds that keep every limit (cruise) and break every limit (speeding), the largest
    grace of their speed rules, and the areas whose speed rules they meet on allowed roads."""

    vehicle_class: str
    operator_id: str
    profile: ClassProfile
    cruise_kmh: tuple[float, float]
    speeding_kmh: float
    speed_grace_s: float
    regimes: tuple[shapely.Geometry, ...]


@dataclass(frozen=True)
class Target:
    """An area a ``restricted_area`` rule keeps vehicles out of, with its largest grace."""

    area_id: str
    shape: shapely.Geometry
    centre: tuple[float, float]
    radius_m: float
    grace_s: float
    others: shapely.Geometry
    """Every other kept-out area: a pass into this one must not touch them."""


@dataclass(frozen=True)
class Site:
    """The zone prepared for route building (all shapes in ``frame`` metres)."""

    zone_id: str
    frame: LocalFrame
    allowed: shapely.Geometry
    kept_out: shapely.Geometry
    dwell_areas: shapely.Geometry
    free_dwell_s: float
    bays: tuple[tuple[float, float], ...]
    bay_dwell_s: float
    targets: tuple[Target, ...]
    classes: tuple[ClassPlan, ...]


def _local(frame: LocalFrame, geometry: shapely.Geometry) -> shapely.Geometry:
    return affinity.affine_transform(
        geometry,
        [
            frame.east_per_deg,
            0,
            0,
            frame.north_per_deg,
            -frame.lon0 * frame.east_per_deg,
            -frame.lat0 * frame.north_per_deg,
        ],
    )


def prepare_site(zone: Zone) -> Site:
    """What the writer needs of ``zone``; raises ValueError when the zone lacks what the
    injections need (a zone-wide dwell rule, a speed rule per permitted class)."""
    centre = zone.boundary.centroid
    frame = LocalFrame.around(centre.x, centre.y)
    areas = {area_id: _local(frame, area.geometry) for area_id, area in zone.areas.items()}
    rules = zone.rules
    non_dwell = {a for rule in rules if rule.kind != "dwell" for a in (rule.applies.areas or ())}
    passable = {
        area_id
        for area_id, area in zone.areas.items()
        if area.kind == "district" or (area.kind == "pickup_dropoff" and area_id not in non_dwell)
    }
    kept_out = shapely.union_all([shape for area_id, shape in areas.items() if area_id not in passable])
    allowed = (
        _local(frame, zone.boundary).buffer(-EDGE_MARGIN_M).difference(kept_out.buffer(KEEP_OUT_MARGIN_M))
    )
    shapely.prepare(allowed)
    shapely.prepare(kept_out)

    dwell_rules = [rule for rule in zone.rules_of_kind("dwell") if isinstance(rule, DwellRule)]
    free = [rule for rule in dwell_rules if not rule.applies.areas and not rule.applies.vehicle_classes]
    if not free:
        raise ValueError(f"zone {zone.zone_id} has no zone-wide dwell rule to inject dwell against")
    dwell_areas = shapely.union_all([areas[a] for rule in dwell_rules for a in (rule.applies.areas or ())])
    shapely.prepare(dwell_areas)
    bay_rule = max(dwell_rules, key=lambda rule: len(rule.applies.areas or ()))
    bay_centres = []
    for area_id in bay_rule.applies.areas or ():
        point = areas[area_id].representative_point()
        if area_id in passable and shapely.contains_xy(allowed, point.x, point.y):
            bay_centres.append((point.x, point.y))

    targets = []
    for rule in zone.rules_of_kind("restricted_area"):
        assert isinstance(rule, RestrictedAreaRule)
        for area_id in rule.applies.areas or ():
            shape = areas[area_id]
            point = shape.representative_point()
            radius = shapely.hausdorff_distance(shape.boundary, point)
            others = kept_out.difference(shape.buffer(KEEP_OUT_MARGIN_M))
            shapely.prepare(others)
            targets.append(Target(area_id, shape, (point.x, point.y), radius, float(rule.grace_s), others))

    classes: list[ClassPlan] = []
    for operator in zone.config.operators:
        for vehicle_class in operator.vehicle_classes:
            name = str(vehicle_class)
            if name not in PROFILES or any(plan.vehicle_class == name for plan in classes):
                continue
            speed_rules = [
                rule
                for rule in zone.rules_of_kind("speed_limit")
                if isinstance(rule, SpeedLimitRule)
                and (not rule.applies.vehicle_classes or name in rule.applies.vehicle_classes)
                and all(a in passable for a in (rule.applies.areas or ()))
            ]
            if not speed_rules:
                raise ValueError(f"zone {zone.zone_id} has no speed rule for {name} vehicles on its roads")
            limits = [rule.limit_kmh + rule.tolerance_kmh for rule in speed_rules]
            profile = PROFILES[name]
            low, high = profile.cruise_kmh
            top = min(high, 0.9 * min(limits))
            regimes = tuple(areas[a] for rule in speed_rules for a in (rule.applies.areas or ()))
            for shape in regimes:
                shapely.prepare(shape)
            classes.append(
                ClassPlan(
                    name,
                    operator.id,
                    profile,
                    (min(low, top), top),
                    max(limits) + max(5.0, 0.3 * max(limits)),
                    max(float(rule.grace_s) for rule in speed_rules),
                    regimes,
                )
            )
    return Site(
        zone.zone_id,
        frame,
        allowed,
        kept_out,
        dwell_areas,
        float(free[0].max_dwell_s),
        tuple(bay_centres),
        float(bay_rule.max_dwell_s),
        tuple(targets),
        tuple(classes),
    )


def regime_codes(plan: ClassPlan, x: FloatArray, y: FloatArray) -> npt.NDArray[np.int64]:
    """Which of the class's speed-rule areas each point lies in, as one bit per area."""
    codes = np.zeros(len(x), dtype=np.int64)
    for bit, shape in enumerate(plan.regimes):
        codes |= shapely.contains_xy(shape, x, y).astype(np.int64) << bit
    return codes


def legs_ok(
    site: Site,
    start: tuple[float, float],
    x1: FloatArray,
    y1: FloatArray,
    *,
    obstacles: shapely.Geometry | None = None,
    check_end: bool = True,
) -> npt.NDArray[np.bool_]:
    """Which candidate legs from ``start`` to (x1, y1) cross none of ``obstacles`` (by default
    every kept-out area) and, with ``check_end``, end on allowed ground."""
    ends = np.stack([x1, y1], axis=1)
    begins = np.broadcast_to(np.asarray(start, dtype=np.float64), ends.shape)
    lines = shapely.linestrings(np.stack([begins, ends], axis=1))
    ok = ~shapely.intersects(lines, site.kept_out if obstacles is None else obstacles)
    if check_end:
        ok &= shapely.contains_xy(site.allowed, x1, y1)
    return np.asarray(ok, dtype=bool)
