"""MDS Geography GeoJSON as zone areas: polygons in, polygons out, points as small circles.

A zone area is a polygon. MDS geographies are FeatureCollections whose features may also be
Points (mds-core's Venice drop-off spots, the spec's ``stop`` example); mds-core's engine
treats a Point geography as a circle of 30.48 m (100 ft) drawn with 32 edges, and so does
this importer, saying so in the report. Lines have no inside and are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from pilotzone import geo

POINT_RADIUS_M = 30.48
"""The radius mds-core gives a Point geography (100 ft)."""
POINT_EDGES = 32


class ShapeError(ValueError):
    """A geography with no usable area."""


def point_circle(lon: float, lat: float) -> shapely.Polygon:
    """A 30.48 m, 32-edge circle around a point, as mds-core draws a Point geography."""
    angles = np.linspace(0.0, 2.0 * np.pi, POINT_EDGES, endpoint=False)
    east, north = POINT_RADIUS_M * np.cos(angles), POINT_RADIUS_M * np.sin(angles)
    per_lon, per_lat = geo.metres_per_degree(lat)
    ring = np.column_stack([lon + east / per_lon, lat + north / per_lat])
    return shapely.Polygon(np.vstack([ring, ring[:1]]))


def area_of(features: Sequence[dict[str, Any]]) -> tuple[Any, list[str]]:
    """One polygonal geometry for a geography's features, and notes on what was changed.

    Raises ``ShapeError`` for an empty collection, lines, or geometry GeoJSON cannot parse.
    """
    parts: list[Any] = []
    points = 0
    notes: list[str] = []
    for index, feature in enumerate(features):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if geometry is None:
            raise ShapeError(f"feature {index} has no geometry")
        try:
            parsed = shapely.force_2d(shape(geometry))
        except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
            raise ShapeError(f"feature {index} is not GeoJSON geometry: {exc}") from None
        if isinstance(parsed, shapely.Point | shapely.MultiPoint):
            for point in getattr(parsed, "geoms", [parsed]):
                parts.append(point_circle(point.x, point.y))
                points += 1
        elif isinstance(parsed, shapely.Polygon | shapely.MultiPolygon):
            if not parsed.is_valid:
                notes.append(
                    f"feature {index} was an invalid polygon ({shapely.is_valid_reason(parsed)}); repaired"
                )
                parsed = shapely.make_valid(parsed)
            parts.append(parsed)
        else:
            raise ShapeError(
                f"feature {index} is a {parsed.geom_type}: only polygons and points enclose an area"
            )
    if not parts:
        raise ShapeError("the geography has no features")
    if points:
        notes.append(
            f"{points} point feature(s) became {POINT_RADIUS_M} m circles of {POINT_EDGES} edges, as mds-core reads them"
        )
    merged = shapely.union_all(parts)
    polygons = [
        g for g in getattr(merged, "geoms", [merged]) if isinstance(g, shapely.Polygon | shapely.MultiPolygon)
    ]
    merged = shapely.union_all(polygons) if len(polygons) != 1 else polygons[0]
    if merged.is_empty:
        raise ShapeError("the geography encloses no area")
    return merged, notes


def feature_collection(geometry: Any, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """A geometry as a GeoJSON FeatureCollection with one feature."""
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": properties or {}, "geometry": geojson(geometry)}],
    }


def geojson(geometry: Any) -> dict[str, Any]:
    """A shapely geometry as a plain GeoJSON dict (lists, not tuples, so it compares and dumps as JSON)."""
    return _lists(mapping(geometry))


def _lists(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


__all__ = [
    "POINT_EDGES",
    "POINT_RADIUS_M",
    "ShapeError",
    "area_of",
    "feature_collection",
    "geojson",
    "point_circle",
]
