"""Small-distance geodesy on WGS 84 longitude/latitude arrays.

Pilot zones span tens of kilometres, so a local equirectangular approximation around each
point is accurate to well under a metre per kilometre, and it vectorises over numpy arrays.
Geometry stays in longitude/latitude degrees (GeoJSON order: x = longitude, y = latitude).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""

FloatArray = npt.NDArray[np.float64]


def haversine_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> FloatArray:
    """Great-circle distance in metres between points given in degrees (broadcasts)."""
    lon1r, lat1r, lon2r, lat2r = (
        np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2)
    )
    a = np.sin((lat2r - lat1r) / 2) ** 2 + np.cos(lat1r) * np.cos(lat2r) * np.sin((lon2r - lon1r) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def metres_per_degree(lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Metres per degree of longitude and of latitude at the given latitudes."""
    lat_r = np.radians(np.asarray(lat, dtype=np.float64))
    per_deg = np.pi * EARTH_RADIUS_M / 180.0
    return per_deg * np.cos(lat_r), np.full_like(lat_r, per_deg)


def offset(
    lon: npt.ArrayLike, lat: npt.ArrayLike, east_m: npt.ArrayLike, north_m: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Move points by metres east and north; the inverse of ``to_local_m`` near the origin."""
    m_lon, m_lat = metres_per_degree(lat)
    return (
        np.asarray(lon, dtype=np.float64) + np.asarray(east_m, dtype=np.float64) / m_lon,
        np.asarray(lat, dtype=np.float64) + np.asarray(north_m, dtype=np.float64) / m_lat,
    )


@dataclass(frozen=True)
class LocalFrame:
    """East/north metres around one origin: the equirectangular projection at the origin's latitude.

    Unlike ``offset``, which scales each point by its own latitude, the scales here are fixed,
    so the map is affine: a point inside a polygon maps to a point inside the mapped polygon,
    and geometry can be buffered in metres while checks stay in longitude/latitude.
    """

    lon0: float
    lat0: float
    east_per_deg: float
    north_per_deg: float

    @classmethod
    def around(cls, lon0: float, lat0: float) -> LocalFrame:
        """The frame with its origin (and its scale) at ``lon0``, ``lat0``."""
        east, north = metres_per_degree(lat0)
        return cls(lon0, lat0, float(east), float(north))

    def to_local(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Longitude/latitude degrees as metres east and north of the origin."""
        return (lon - self.lon0) * self.east_per_deg, (lat - self.lat0) * self.north_per_deg

    def to_lonlat(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Metres east and north of the origin as longitude/latitude degrees."""
        return self.lon0 + x / self.east_per_deg, self.lat0 + y / self.north_per_deg


def bearing_deg(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> FloatArray:
    """Initial bearing in degrees clockwise from true north, 0..360, from point 1 to point 2."""
    lon1r, lat1r, lon2r, lat2r = (
        np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2)
    )
    y = np.sin(lon2r - lon1r) * np.cos(lat2r)
    x = np.cos(lat1r) * np.sin(lat2r) - np.sin(lat1r) * np.cos(lat2r) * np.cos(lon2r - lon1r)
    return np.asarray(np.degrees(np.arctan2(y, x)) % 360.0, dtype=np.float64)
