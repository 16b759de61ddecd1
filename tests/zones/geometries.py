"""Named geometries and config builders shared by the zone tests.

Everything is laid out in metres east/north of ``ORIGIN`` so a test reads as a map:

    boundary     10 km square centred on the origin
    district     5 km square, west half (centre 2.5 km west)
    school       300 m square in the district (centre 2 km west)
    corridor     9 km x 60 m east-west strip along the origin's latitude, crossing the district
    depot        200 m square in the east half
    restricted   400 m square in the east half
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pilotzone import geo

ORIGIN = (127.0, 37.0)


def lonlat(east_m: float, north_m: float) -> tuple[float, float]:
    """The lon/lat of a point ``east_m``/``north_m`` metres from ``ORIGIN``."""
    lon, lat = geo.offset(ORIGIN[0], ORIGIN[1], east_m, north_m)
    return float(lon), float(lat)


def rectangle(west_m: float, south_m: float, east_m: float, north_m: float) -> dict[str, Any]:
    """A GeoJSON Polygon from metre offsets of its corners."""
    corners = [(west_m, south_m), (east_m, south_m), (east_m, north_m), (west_m, north_m), (west_m, south_m)]
    return {"type": "Polygon", "coordinates": [[list(lonlat(x, y)) for x, y in corners]]}


def square(centre_east_m: float, centre_north_m: float, half_m: float) -> dict[str, Any]:
    """A GeoJSON Polygon square of side ``2 * half_m`` around a metre offset."""
    return rectangle(
        centre_east_m - half_m, centre_north_m - half_m, centre_east_m + half_m, centre_north_m + half_m
    )


BOUNDARY = square(0, 0, 5000)
DISTRICT = rectangle(-5000, -2500, 0, 2500)
SCHOOL = square(-2000, 0, 150)
CORRIDOR = rectangle(-4500, -30, 4500, 30)
DEPOT = square(2500, 2500, 100)
RESTRICTED = square(2500, -2500, 200)

IN_SCHOOL = lonlat(-2000, 100)
"""In the school zone, the district and outside the corridor."""
IN_SCHOOL_ON_CORRIDOR = lonlat(-2000, 0)
IN_DISTRICT = lonlat(-4000, 1500)
ON_CORRIDOR_IN_DISTRICT = lonlat(-1000, 0)
ON_CORRIDOR_EAST = lonlat(3000, 0)
IN_ZONE_ONLY = lonlat(1000, 2000)
IN_RESTRICTED = lonlat(2500, -2500)
OUTSIDE = lonlat(7000, 0)

SPEED_RULES: list[dict[str, Any]] = [
    {"id": "zone-speed", "kind": "speed_limit", "limit_kmh": 50},
    {"id": "district-speed", "kind": "speed_limit", "limit_kmh": 40, "applies": {"areas": ["district"]}},
    {"id": "school-speed", "kind": "speed_limit", "limit_kmh": 30, "applies": {"areas": ["school"]}},
    {"id": "corridor-speed", "kind": "speed_limit", "limit_kmh": 80, "applies": {"areas": ["corridor"]}},
]


def base_config() -> dict[str, Any]:
    """A small valid zone config using every geometry above (a fresh copy each call)."""
    return copy.deepcopy(
        {
            "zone_id": "testzone",
            "name": "Test zone",
            "timezone": "Asia/Seoul",
            "boundary": BOUNDARY,
            "operators": [
                {"id": "op-a", "vehicle_classes": ["ROBOTAXI", "CAR"], "max_vehicles": 10},
                {"id": "op-b", "vehicle_classes": ["DELIVERY_ROBOT"]},
            ],
            "areas": [
                {"id": "district", "name": "West district", "kind": "district", "geometry": DISTRICT},
                {"id": "school", "name": "Test school zone", "kind": "school_zone", "geometry": SCHOOL},
                {"id": "corridor", "name": "East-west corridor", "kind": "corridor", "geometry": CORRIDOR},
                {"id": "depot", "name": "Depot", "kind": "depot", "geometry": DEPOT},
                {"id": "restricted", "name": "Air base", "kind": "restricted_area", "geometry": RESTRICTED},
            ],
            "rules": [
                *SPEED_RULES,
                {"id": "stay-in", "kind": "leave_boundary"},
                {
                    "id": "no-base",
                    "kind": "restricted_area",
                    "severity": "CRITICAL",
                    "applies": {"areas": ["restricted"]},
                },
                {"id": "permit", "kind": "permit"},
                {"id": "gap", "kind": "telemetry_gap", "max_gap_s": 10},
            ],
        }
    )


def write_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` as a YAML zone config and return the path."""
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
