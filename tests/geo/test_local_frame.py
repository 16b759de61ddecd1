"""``LocalFrame``: fixed-scale east/north metres around an origin, and back."""

from __future__ import annotations

import math

import numpy as np

from pilotzone import geo


def test_the_frame_uses_the_scales_at_its_origin() -> None:
    frame = geo.LocalFrame.around(126.85, 35.15)
    east, north = geo.metres_per_degree(35.15)
    assert (frame.east_per_deg, frame.north_per_deg) == (float(east), float(north))
    assert frame.north_per_deg == math.pi * geo.EARTH_RADIUS_M / 180.0


def test_to_local_and_back_is_the_identity() -> None:
    frame = geo.LocalFrame.around(126.85, 35.15)
    lon, lat = np.array([126.85, 126.86, 126.80]), np.array([35.15, 35.16, 35.10])
    x, y = frame.to_local(lon, lat)
    assert x[0] == 0.0 and y[0] == 0.0
    back = frame.to_lonlat(x, y)
    np.testing.assert_allclose(back, (lon, lat), rtol=0, atol=1e-12)


def test_near_the_origin_distances_match_the_great_circle() -> None:
    frame = geo.LocalFrame.around(126.85, 35.15)
    x, y = frame.to_local(np.array([126.86]), np.array([35.16]))
    metres = float(np.hypot(x[0], y[0]))
    assert abs(metres - float(geo.haversine_m(126.85, 35.15, 126.86, 35.16))) < 1.0
