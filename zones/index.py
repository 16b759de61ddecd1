"""Vectorised point-in-area lookups for batches of telemetry samples.

The pipeline asks, for thousands of samples at a time, whether each is inside the zone's
boundary and which areas it is in. Building a shapely Point per sample runs at tens of
thousands per second; the array functions used here run at millions: ``intersects_xy`` on
the prepared boundary, and for the areas a uniform grid of their bounding boxes in numpy.

The grid replaced an ``STRtree.query(points, predicate="intersects")``, which spent most of
the replay's geometry time building a Point per sample and running a GEOS predicate per
candidate. Here a sample's grid cell lists the areas whose bounding box touches the cell;
a comparison with each candidate's bounding box is already the exact answer for the common
axis-aligned rectangular area (pick-up bays, blocks), and only the candidates of other
shapes go to ``intersects_xy`` on that area's prepared polygon.

Points exactly on an edge count as inside (``intersects``, not ``contains``): a polygon
does not contain its own boundary, so with ``contains`` a vehicle on the shared border of
two districts would be in neither, and one on the zone's edge would have "left" it. With
``intersects`` it is in both districts (rule precedence then picks one deterministically)
and still inside the zone; a restricted area's edge counts as inside it, which errs on the
safe side. GPS noise makes exact-edge points rare in real data, but synthetic tracks and
snapped coordinates hit them. NaN coordinates are in nothing.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import shapely

from pilotzone.zones.zone import Zone


class AreaIndex:
    """Spatial lookups for one zone: boundary membership and areas per point.

    Immutable once built; area positions returned by ``areas_containing`` index
    ``area_ids`` (config order). ``zones.compiled.area_index`` gives the one built for a
    zone; constructing one directly builds a new one.
    """

    def __init__(self, zone: Zone) -> None:
        self.zone_id: str = zone.zone_id
        self.area_ids: tuple[str, ...] = tuple(zone.areas)
        self._grid = _AreaGrid([zone.areas[area_id].geometry for area_id in self.area_ids])
        # A copy, so preparing it does not change the zone's own geometry object.
        self._boundary = shapely.from_wkb(shapely.to_wkb(zone.boundary))
        shapely.prepare(self._boundary)
        self._boundary_cells = _BoundaryCells(self._boundary)

    def inside_boundary(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Per point, whether it is inside the zone's boundary or on its edge."""
        x, y = _coordinates(lon, lat)
        return self._boundary_cells.inside(x, y)

    def areas_containing(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Every (sample index, area position) pair with the sample inside or on that area.

        Sorted by sample, then area position. ``self.area_ids[position]`` is the area id.
        """
        x, y = _coordinates(lon, lat)
        return self._grid.pairs(x, y)

    def area_sets(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> list[frozenset[str]]:
        """Per point, the ids of the areas it is in (the key ``rules.winning_rule`` caches on)."""
        x, _ = _coordinates(lon, lat)
        samples, positions = self.areas_containing(lon, lat)
        found: list[list[str]] = [[] for _ in range(len(x))]
        for sample, position in zip(samples.tolist(), positions.tolist(), strict=True):
            found[sample].append(self.area_ids[position])
        empty: frozenset[str] = frozenset()
        return [frozenset(ids) if ids else empty for ids in found]


class _AreaGrid:
    """Which areas each point is in, by a uniform grid over the areas' bounding boxes.

    Exact, not approximate: a point's cell holds every area whose bounding box contains the
    point (cell ranges and point cells come from the same monotonic float formula, so a
    point on a box's edge falls in a cell of that box); rectangles equal to their bounding
    box are decided by the inclusive box comparison, which is what ``intersects`` means for
    them; every other shape is tested with ``intersects_xy``.
    """

    MAX_CELLS_PER_SIDE = 512
    CELL_MARGIN = 1e-6
    """How much wider than a cell (as a fraction of its side) the box is that classifies it."""

    def __init__(self, geometries: list[shapely.Geometry]) -> None:
        count = len(geometries)
        bounds = np.array([g.bounds for g in geometries], dtype=np.float64).reshape(count, 4)
        usable: npt.NDArray[np.bool_] = np.asarray(np.isfinite(bounds).all(axis=1), dtype=np.bool_)
        self.min_x, self.min_y, self.max_x, self.max_y = (bounds[:, k] for k in range(4))
        self.exact_box: npt.NDArray[np.bool_] = np.array(
            [
                bool(usable[i])
                and shapely.equals(g, shapely.envelope(g))
                and shapely.get_num_interior_rings(g) == 0
                for i, g in enumerate(geometries)
            ],
            dtype=np.bool_,
        )
        self.prepared: dict[int, shapely.Geometry] = {}
        for i, geometry in enumerate(geometries):
            if usable[i] and not self.exact_box[i]:
                copy = shapely.from_wkb(shapely.to_wkb(geometry))
                shapely.prepare(copy)
                self.prepared[i] = copy
        if not usable.any():
            self.cells_x = self.cells_y = 0
            self.cell_offsets = np.zeros(1, dtype=np.int64)
            self.cell_areas = np.zeros(0, dtype=np.intp)
            self.cell_covered = np.zeros(0, dtype=np.bool_)
            return
        self.origin_x, self.origin_y = float(self.min_x[usable].min()), float(self.min_y[usable].min())
        width = max(float(self.max_x[usable].max()) - self.origin_x, 1e-9)
        height = max(float(self.max_y[usable].max()) - self.origin_y, 1e-9)
        side = int(min(self.MAX_CELLS_PER_SIDE, max(1, 4 * math.isqrt(count))))
        self.cells_x = self.cells_y = side
        self.scale_x, self.scale_y = side / width, side / height
        positions = np.flatnonzero(usable)
        x0, x1 = self._cell_x(self.min_x[positions]), self._cell_x(self.max_x[positions])
        y0, y1 = self._cell_y(self.min_y[positions]), self._cell_y(self.max_y[positions])
        cells: list[npt.NDArray[np.int64]] = []
        owners: list[npt.NDArray[np.intp]] = []
        for position, a, b, c, d in zip(
            positions.tolist(), x0.tolist(), x1.tolist(), y0.tolist(), y1.tolist(), strict=True
        ):
            xs, ys = np.meshgrid(np.arange(a, b + 1), np.arange(c, d + 1))
            covered = (ys * side + xs).ravel()
            cells.append(covered)
            owners.append(np.full(len(covered), position, dtype=np.intp))
        cell = np.concatenate(cells)
        owner = np.concatenate(owners)
        cell, owner, covered = self._classify(cell, owner)
        order = np.lexsort((owner, cell))
        self.cell_areas = owner[order]
        self.cell_covered = covered[order]
        self.cell_offsets = np.zeros(side * side + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=side * side), out=self.cell_offsets[1:])

    def _classify(
        self, cell: npt.NDArray[np.int64], owner: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Drop the cells a shaped area does not reach, and mark those it covers whole.

        A point in a covered cell and in the area's bounding box is in the area: no polygon
        test. Each cell is widened by a sliver (``CELL_MARGIN`` of its side) before it is
        compared, so a point that the floor formula puts in a cell but that lies a rounding
        error outside it is still decided correctly; points clipped into an edge cell lie
        outside every bounding box and fail the box comparison first.
        """
        covered = np.zeros(len(cell), dtype=np.bool_)
        shaped = np.flatnonzero(~self.exact_box[owner])
        if shaped.size == 0:
            return cell, owner, covered
        cx, cy = cell[shaped] % self.cells_x, cell[shaped] // self.cells_x
        margin_x, margin_y = self.CELL_MARGIN / self.scale_x, self.CELL_MARGIN / self.scale_y
        boxes = shapely.box(
            self.origin_x + cx / self.scale_x - margin_x,
            self.origin_y + cy / self.scale_y - margin_y,
            self.origin_x + (cx + 1) / self.scale_x + margin_x,
            self.origin_y + (cy + 1) / self.scale_y + margin_y,
        )
        reached = np.ones(len(cell), dtype=np.bool_)
        for position in np.unique(owner[shaped]).tolist():
            mine = owner[shaped] == position
            area = self.prepared[position]
            covered[shaped[mine]] = shapely.covers(area, boxes[mine])
            reached[shaped[mine]] = shapely.intersects(area, boxes[mine])
        return cell[reached], owner[reached], covered[reached]

    def _cell_x(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.clip(np.floor((x - self.origin_x) * self.scale_x), 0, self.cells_x - 1).astype(np.int64)

    def _cell_y(self, y: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.clip(np.floor((y - self.origin_y) * self.scale_y), 0, self.cells_y - 1).astype(np.int64)

    def pairs(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """(sample, area position) pairs with the point inside or on the area, sorted."""
        empty = np.zeros(0, dtype=np.intp)
        if self.cells_x == 0 or len(x) == 0:
            return empty, empty
        with np.errstate(invalid="ignore"):
            # NaN coordinates land in some cell but fail every box comparison below.
            cell = self._cell_y(np.nan_to_num(y)) * self.cells_x + self._cell_x(np.nan_to_num(x))
        starts = self.cell_offsets[cell]
        counts = self.cell_offsets[cell + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return empty, empty
        samples = np.repeat(np.arange(len(x), dtype=np.intp), counts)
        first = np.cumsum(counts) - counts
        entries = np.repeat(starts - first, counts) + np.arange(total)
        areas = self.cell_areas[entries]
        px, py = x[samples], y[samples]
        keep = (
            (px >= self.min_x[areas])
            & (px <= self.max_x[areas])
            & (py >= self.min_y[areas])
            & (py <= self.max_y[areas])
        )
        shaped = keep & ~self.exact_box[areas] & ~self.cell_covered[entries]
        if shaped.any():
            candidates = np.flatnonzero(shaped)
            for position in np.unique(areas[candidates]).tolist():
                mine = candidates[areas[candidates] == position]
                keep[mine] = shapely.intersects_xy(self.prepared[position], px[mine], py[mine])
        return samples[keep], areas[keep]


class _BoundaryCells:
    """Boundary membership by a grid over the boundary's bounding box: a point in a cell the
    boundary covers is inside, one in a cell it does not reach is outside, and only points in
    cells its edge crosses are tested with ``intersects_xy``. Cells are widened by a sliver
    before they are classified, as in ``_AreaGrid``; points outside the bounding box (and NaN
    coordinates) are outside.
    """

    SIDE = 64
    CELL_MARGIN = 1e-6

    def __init__(self, boundary: shapely.Geometry) -> None:
        self.boundary = boundary
        self.min_x, self.min_y, self.max_x, self.max_y = boundary.bounds
        self.usable = all(math.isfinite(v) for v in boundary.bounds)
        if not self.usable:
            return
        self.scale_x = self.SIDE / max(self.max_x - self.min_x, 1e-9)
        self.scale_y = self.SIDE / max(self.max_y - self.min_y, 1e-9)
        cy, cx = np.divmod(np.arange(self.SIDE * self.SIDE), self.SIDE)
        margin_x, margin_y = self.CELL_MARGIN / self.scale_x, self.CELL_MARGIN / self.scale_y
        boxes = shapely.box(
            self.min_x + cx / self.scale_x - margin_x,
            self.min_y + cy / self.scale_y - margin_y,
            self.min_x + (cx + 1) / self.scale_x + margin_x,
            self.min_y + (cy + 1) / self.scale_y + margin_y,
        )
        self.covered = np.asarray(shapely.covers(boundary, boxes), dtype=np.bool_)
        self.crossed = np.asarray(shapely.intersects(boundary, boxes), dtype=np.bool_) & ~self.covered

    def inside(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        if not self.usable:
            return np.asarray(shapely.intersects_xy(self.boundary, x, y), dtype=bool)
        in_box = (x >= self.min_x) & (x <= self.max_x) & (y >= self.min_y) & (y <= self.max_y)
        with np.errstate(invalid="ignore"):
            cx = np.clip(np.floor((np.nan_to_num(x) - self.min_x) * self.scale_x), 0, self.SIDE - 1)
            cy = np.clip(np.floor((np.nan_to_num(y) - self.min_y) * self.scale_y), 0, self.SIDE - 1)
        cell = cy.astype(np.int64) * self.SIDE + cx.astype(np.int64)
        inside = in_box & self.covered[cell]
        test = np.flatnonzero(in_box & self.crossed[cell])
        if test.size:
            inside[test] = shapely.intersects_xy(self.boundary, x[test], y[test])
        return inside


def _coordinates(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    y = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"lon and lat must be 1-D arrays of one length, got shapes {x.shape} and {y.shape}")
    return x, y
