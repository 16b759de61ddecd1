"""Polygon checks and repairs for zone geometry, and areas on the sphere.

Real municipal polygons are not always valid (self-intersecting rings, nested shells), and
national boundary files are simplified district by district so neighbours no longer share
their border exactly. These functions say what is wrong with a polygon in words someone can
act on, repair it when asked, and merge districts into one boundary without the slivers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from pilotzone import geo
from pilotzone.zones.zone import Polygonal

GAP_CLOSING_DEG = 1e-4
"""Half-width of the gaps closed when several features are merged (about 9-11 m in Korea).

National boundary files are simplified district by district, so two neighbouring districts
no longer share their border exactly: merging them leaves slivers and pinholes along the
old border. A vehicle driving along that border would then be "outside the boundary" for a
few samples and raise a false leave_boundary incident. A morphological closing (buffer out,
then back in, with mitre joins so corners stay sharp) fills gaps up to about twice this
width and leaves the outer edge in place; real gaps between the parts of a zone are far
wider than 20 m.
"""

SMALL_HOLE_M2 = 10_000.0
"""Holes smaller than this (one hectare) left inside a merged geometry are filled.

The closing removes narrow gaps; this removes compact ones. A genuine hole in a zone (a
municipality that surrounds another one) is square kilometres, not a hectare.
"""


def geodesic_area_m2(geometry: BaseGeometry) -> float:
    """Area in square metres of a lon/lat geometry on the mean-radius sphere.

    The sinusoidal projection is equal-area, so the planar area after projecting is the
    spherical area; the central meridian is put at the geometry to keep shapes compact.
    """
    if geometry.is_empty:
        return 0.0
    lon0 = (geometry.bounds[0] + geometry.bounds[2]) / 2
    per_deg = math.pi * geo.EARTH_RADIUS_M / 180.0

    def sinusoidal(coords: np.ndarray) -> np.ndarray:
        lon, lat = coords[:, 0], coords[:, 1]
        return np.column_stack(((lon - lon0) * per_deg * np.cos(np.radians(lat)), lat * per_deg))

    return float(shapely.area(shapely.transform(geometry, sinusoidal)))


def coordinate_range_problem(geometry: BaseGeometry) -> str | None:
    """What is wrong with the coordinates if they are not WGS 84 lon/lat degrees, else None.

    Swapped [latitude, longitude] and projected metres are the two usual mistakes, and each
    gets its own message.
    """
    min_x, min_y, max_x, max_y = geometry.bounds
    if not all(math.isfinite(v) for v in (min_x, min_y, max_x, max_y)):
        return "coordinates contain NaN or infinity"
    widest_x, widest_y = max(abs(min_x), abs(max_x)), max(abs(min_y), abs(max_y))
    if widest_x <= 180 and widest_y <= 90:
        return None
    if widest_x <= 90 and widest_y <= 180:
        return (
            f"latitude {widest_y:g} is out of range: the coordinates look like [latitude, longitude]; "
            "GeoJSON order is [longitude, latitude]"
        )
    return (
        f"coordinates span x {min_x:g}..{max_x:g}, y {min_y:g}..{max_y:g}, outside longitude -180..180 / latitude "
        "-90..90: give WGS 84 degrees (projected metres such as EPSG:5179 must be converted)"
    )


def validity_reason(geometry: BaseGeometry) -> str:
    """``Ring Self-intersection at 126.789233 37.340244`` from shapely's ``...[x y]`` text."""
    text = explain_validity(geometry)
    match = re.fullmatch(r"(.*)\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]", text)
    if match:
        return f"{match.group(1)} at {float(match.group(2)):.6f} {float(match.group(3)):.6f}"
    return text


def repair(geometry: BaseGeometry) -> BaseGeometry | None:
    """``make_valid``, keeping only polygons (a repair can leave stray lines and points).

    The "structure" method unions the shells, so a polygon nested in another (a duplicated
    island) stays covered instead of becoming a hole as the default "linework" method makes it.
    None if nothing with an area is left.
    """
    try:
        valid = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
    except (TypeError, ValueError):  # shapely < 2.1 or GEOS < 3.10 has only "linework"
        valid = shapely.make_valid(geometry)
    polygons = list(_polygons(valid))
    if not polygons:
        return None
    return shapely.union_all(polygons)


def merge(parts: Sequence[BaseGeometry]) -> BaseGeometry:
    """Union several polygons and close the slivers simplification left between them.

    See ``GAP_CLOSING_DEG`` and ``SMALL_HOLE_M2``. The closing is unioned with the plain
    union, so merging only ever adds area: no part of any source polygon is lost.
    """
    union = shapely.union_all(list(parts))
    closed = shapely.buffer(
        shapely.buffer(union, GAP_CLOSING_DEG, join_style="mitre", mitre_limit=10.0),
        -GAP_CLOSING_DEG,
        join_style="mitre",
        mitre_limit=10.0,
    )
    merged = shapely.union(union, closed)
    polygons = [
        shapely.Polygon(
            polygon.exterior,
            [ring for ring in polygon.interiors if geodesic_area_m2(shapely.Polygon(ring)) >= SMALL_HOLE_M2],
        )
        for polygon in _polygons(merged)
    ]
    return shapely.union_all(polygons)


def as_polygonal(geometry: BaseGeometry) -> Polygonal:
    """The geometry as a Polygon or MultiPolygon (the polygons of a collection)."""
    if isinstance(geometry, shapely.Polygon | shapely.MultiPolygon):
        return geometry
    return shapely.MultiPolygon(list(_polygons(geometry)))


def _polygons(geometry: BaseGeometry) -> Iterator[shapely.Polygon]:
    if isinstance(geometry, shapely.Polygon):
        if not geometry.is_empty:
            yield geometry
    elif isinstance(geometry, shapely.MultiPolygon | shapely.GeometryCollection):
        for part in geometry.geoms:
            yield from _polygons(part)


__all__ = [
    "GAP_CLOSING_DEG",
    "SMALL_HOLE_M2",
    "as_polygonal",
    "coordinate_range_problem",
    "geodesic_area_m2",
    "merge",
    "repair",
    "validity_reason",
]
