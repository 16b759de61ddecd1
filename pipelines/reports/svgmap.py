"""The zone map as inline SVG, drawn from the zone's own geometry: no tiles, no network.

The projection is equirectangular at the zone's mid-latitude (east-west degrees shrunk by the
cosine of the latitude), which over a city is within a fraction of a percent of true shape and
needs nothing but arithmetic. Outlines are simplified to half a pixel, so a city's boundary
with thousands of vertices stays a few kilobytes without a visible change.

Every incident marker is a ``circle`` of class ``incident-marker`` with the incident's number
in the report's incident table (``data-incident`` and a ``title``), so a reader, or a test, can
match the map to the table. The public version draws grid cells (class ``grid-cell``, and
``grid-cell suppressed`` where withheld) instead of markers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import shapely

from pilotzone.zones import Zone

WIDTH_PX = 680.0
MARGIN_PX = 12.0

AREA_STYLES = {
    "district": ("none", "#8a8f99"),
    "school_zone": ("#f6c343", "#b88a00"),
    "restricted_area": ("#e8a0a0", "#a33"),
    "sidewalk": ("#b7d7a8", "#4a7a3a"),
    "depot": ("#c9b8e8", "#6a4fa0"),
    "pickup_dropoff": ("#a8cfe8", "#2a6f99"),
    "corridor": ("#d8d8d8", "#555"),
    "construction": ("#f2c19a", "#a85a1c"),
    "other": ("#e0e0e0", "#777"),
}
"""Area kind -> (fill, stroke)."""


@dataclass(frozen=True)
class Marker:
    """One incident's start on the map."""

    number: int
    lon: float
    lat: float
    severity: str
    title: str


@dataclass(frozen=True)
class GridSquare:
    """One public grid cell: corners in lon/lat, its label, withheld or not."""

    west: float
    south: float
    east: float
    north: float
    label: str
    suppressed: bool


@dataclass(frozen=True)
class Projection:
    """Lon/lat degrees to SVG pixels for one bounding box."""

    west: float
    south: float
    north: float
    scale: float
    """Pixels per degree of latitude."""
    cos_lat: float
    height: float

    @classmethod
    def fit(cls, bounds: tuple[float, float, float, float]) -> Projection:
        """The projection that fits ``(west, south, east, north)`` into the map's width."""
        west, south, east, north = bounds
        cos_lat = math.cos(math.radians((south + north) / 2))
        span_x = max((east - west) * cos_lat, 1e-9)
        scale = (WIDTH_PX - 2 * MARGIN_PX) / span_x
        height = (north - south) * scale + 2 * MARGIN_PX
        return cls(west, south, north, scale, cos_lat, height)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """SVG pixel coordinates of a point."""
        return (
            MARGIN_PX + (lon - self.west) * self.cos_lat * self.scale,
            MARGIN_PX + (self.north - lat) * self.scale,
        )

    @property
    def degrees_per_px(self) -> float:
        """Latitude degrees one pixel spans (the simplification tolerance's unit)."""
        return 1 / self.scale


def _ring(projection: Projection, coords: Sequence[tuple[float, ...]]) -> str:
    points = [projection.xy(c[0], c[1]) for c in coords]
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z"


def path_data(projection: Projection, geometry: shapely.Geometry) -> str:
    """SVG path data of a (multi)polygon, holes included (drawn with the even-odd rule)."""
    simple = shapely.simplify(geometry, projection.degrees_per_px / 2, preserve_topology=True)
    polygons = list(getattr(simple, "geoms", [simple]))
    rings = []
    for polygon in polygons:
        if polygon.is_empty or not hasattr(polygon, "exterior"):
            continue
        rings.append(_ring(projection, polygon.exterior.coords))
        rings.extend(_ring(projection, hole.coords) for hole in polygon.interiors)
    return "".join(rings)


SEVERITY_COLOURS = {"CRITICAL": "#c0001a", "MAJOR": "#e2540c", "MINOR": "#1f5fbf", "INFO": "#5a5a5a"}


def zone_map(zone: Zone, markers: Sequence[Marker] = (), squares: Sequence[GridSquare] = ()) -> str:
    """The zone's boundary and areas with incident markers or public grid cells, as ``<svg>``."""
    projection = Projection.fit(zone.boundary.bounds)
    parts = [
        f'<svg class="zone-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH_PX:.0f} '
        f'{projection.height:.0f}" width="{WIDTH_PX:.0f}" height="{projection.height:.0f}" role="img" '
        f'aria-label="map of {escape(zone.config.name)}">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eee"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="2"/></pattern></defs>',
        f'<path class="boundary" d="{path_data(projection, zone.boundary)}" fill="#f7f7f2" '
        'stroke="#222" stroke-width="1.2" fill-rule="evenodd"/>',
    ]
    # Large areas first, so a school zone inside a district stays visible on top of it.
    for area in sorted(zone.areas.values(), key=lambda a: -a.area_m2):
        fill, stroke = AREA_STYLES.get(str(area.kind), AREA_STYLES["other"])
        opacity = "" if fill == "none" else ' fill-opacity="0.7"'
        parts.append(
            f'<path class="area area-{escape(str(area.kind))}" data-area="{escape(area.id)}" '
            f'd="{path_data(projection, area.geometry)}" fill="{fill}"{opacity} stroke="{stroke}" '
            f'stroke-width="0.8" fill-rule="evenodd"><title>{escape(area.id)}: {escape(area.name)}</title></path>'
        )
    for square in squares:
        x0, y0 = projection.xy(square.west, square.north)
        x1, y1 = projection.xy(square.east, square.south)
        fill = "url(#hatch)" if square.suppressed else "#c0001a"
        css = "grid-cell suppressed" if square.suppressed else "grid-cell"
        parts.append(
            f'<rect class="{css}" x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0, 2):.1f}" '
            f'height="{max(y1 - y0, 2):.1f}" fill="{fill}" fill-opacity="0.85" stroke="#333" stroke-width="0.4">'
            f"<title>{escape(square.label)}</title></rect>"
        )
    for marker in markers:
        x, y = projection.xy(marker.lon, marker.lat)
        colour = SEVERITY_COLOURS.get(marker.severity, "#000")
        parts.append(
            f'<g class="incident"><circle class="incident-marker" data-incident="{marker.number}" '
            f'cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff" stroke-width="1">'
            f"<title>{escape(marker.title)}</title></circle>"
            f'<text x="{x + 6:.1f}" y="{y - 5:.1f}" font-size="9" fill="{colour}">{marker.number}</text></g>'
        )
    parts.append(_scale_bar(projection))
    parts.append("</svg>")
    return "".join(parts)


def _scale_bar(projection: Projection) -> str:
    """A scale bar of a round number of kilometres, about a fifth of the map's width."""
    metres_per_px = 111_320 / projection.scale
    target_m = metres_per_px * WIDTH_PX / 5
    km = next((n for n in (0.5, 1, 2, 5, 10, 20, 50) if n * 1000 >= target_m), 100)
    length = km * 1000 / metres_per_px
    y = projection.height - 6
    return (
        f'<g class="scale-bar"><line x1="{MARGIN_PX}" y1="{y:.1f}" x2="{MARGIN_PX + length:.1f}" y2="{y:.1f}" '
        f'stroke="#000" stroke-width="2"/><text x="{MARGIN_PX}" y="{y - 4:.1f}" font-size="9">{km:g} km</text></g>'
    )
