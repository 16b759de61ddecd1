"""Vectorised point-in-area lookups for batches of telemetry samples.

The pipeline asks, for thousands of samples at a time, whether each is inside the zone's
boundary and which areas it is in. Building a shapely Point per sample runs at tens of
thousands per second; the array functions used here run at millions: ``intersects_xy`` on
the prepared boundary, and one ``STRtree.query`` over ``shapely.points`` arrays for the
areas, which stays fast with a thousand small areas because the tree prunes by bounding box
before the exact test.

Points exactly on an edge count as inside (``intersects``, not ``contains``): a polygon
does not contain its own boundary, so with ``contains`` a vehicle on the shared border of
two districts would be in neither, and one on the zone's edge would have "left" it. With
``intersects`` it is in both districts (rule precedence then picks one deterministically)
and still inside the zone; a restricted area's edge counts as inside it, which errs on the
safe side. GPS noise makes exact-edge points rare in real data, but synthetic tracks and
snapped coordinates hit them. NaN coordinates are in nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import shapely

if TYPE_CHECKING:
    from zones.loader import Zone


class AreaIndex:
    """Spatial lookups for one zone: boundary membership and areas per point.

    Immutable once built; area positions returned by ``areas_containing`` index
    ``area_ids`` (config order).
    """

    def __init__(self, zone: Zone) -> None:
        self.zone_id: str = zone.zone_id
        self.area_ids: tuple[str, ...] = tuple(zone.areas)
        geometries = np.array([zone.areas[area_id].geometry for area_id in self.area_ids], dtype=object)
        self._tree = shapely.STRtree(geometries)
        # A copy, so preparing it does not change the zone's own geometry object.
        self._boundary = shapely.from_wkb(shapely.to_wkb(zone.boundary))
        shapely.prepare(self._boundary)

    def inside_boundary(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Per point, whether it is inside the zone's boundary or on its edge."""
        x, y = _coordinates(lon, lat)
        return np.asarray(shapely.intersects_xy(self._boundary, x, y), dtype=bool)

    def areas_containing(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Every (sample index, area position) pair with the sample inside or on that area.

        Sorted by sample, then area position. ``self.area_ids[position]`` is the area id.
        """
        x, y = _coordinates(lon, lat)
        pairs = self._tree.query(shapely.points(x, y), predicate="intersects")
        samples, positions = np.asarray(pairs[0], dtype=np.intp), np.asarray(pairs[1], dtype=np.intp)
        order = np.lexsort((positions, samples))
        return samples[order], positions[order]

    def area_sets(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> list[frozenset[str]]:
        """Per point, the ids of the areas it is in (the key ``rules.winning_rule`` caches on)."""
        x, _ = _coordinates(lon, lat)
        samples, positions = self.areas_containing(lon, lat)
        found: list[list[str]] = [[] for _ in range(len(x))]
        for sample, position in zip(samples.tolist(), positions.tolist(), strict=True):
            found[sample].append(self.area_ids[position])
        empty: frozenset[str] = frozenset()
        return [frozenset(ids) if ids else empty for ids in found]


def area_index(zone: Zone) -> AreaIndex:
    """The zone's ``AreaIndex``, built on first use and kept with the zone."""
    index: AreaIndex = zone.cached("area_index", lambda: AreaIndex(zone))
    return index


def _coordinates(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    y = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"lon and lat must be 1-D arrays of one length, got shapes {x.shape} and {y.shape}")
    return x, y
