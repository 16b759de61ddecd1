"""AreaIndex: vectorised lookups agree with a point-by-point shapely check, edges included."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import shapely

from pilotzone.zones import Area, AreaIndex, Zone, area_index, geodesic_area_m2
from pilotzone.zones.model import AreaKind, ZoneConfig
from tests.zones import geometries as g

RNG_SEED = 20250304


def synthetic_zone(areas: list[shapely.Polygon], boundary: shapely.Polygon) -> Zone:
    """A Zone built directly (no YAML), for index tests with many areas."""
    config = ZoneConfig.model_validate(
        {
            "zone_id": "many",
            "name": "Many areas",
            "boundary": shapely.geometry.mapping(boundary),
            "operators": [{"id": "op", "vehicle_classes": ["CAR"]}],
            "rules": [{"id": "permit", "kind": "permit"}],
        }
    )
    resolved = {
        f"area-{i:04d}": Area(
            f"area-{i:04d}", f"Area {i}", AreaKind.OTHER, polygon, geodesic_area_m2(polygon)
        )
        for i, polygon in enumerate(areas)
    }
    return Zone(
        config=config, boundary=boundary, areas=resolved, version="sha256:test", source=Path("many.yaml")
    )


def many_small_areas(rng: np.random.Generator, count: int) -> list[shapely.Polygon]:
    """Small rotated boxes, circles and donuts (holes) scattered over 0.2 x 0.2 degrees, some overlapping."""
    polygons: list[shapely.Polygon] = []
    centres = rng.uniform([127.0, 37.0], [127.2, 37.2], size=(count, 2))
    for i, (x, y) in enumerate(centres):
        size = rng.uniform(0.0005, 0.004)
        if i % 3 == 0:
            polygon = shapely.Point(x, y).buffer(size, quad_segs=4)
        elif i % 3 == 1:
            polygon = shapely.affinity.rotate(
                shapely.box(x - size, y - size / 2, x + size, y + size / 2), rng.uniform(0, 90)
            )
        else:
            polygon = (
                shapely.Point(x, y)
                .buffer(size, quad_segs=4)
                .difference(shapely.Point(x, y).buffer(size / 2, quad_segs=4))
            )
        polygons.append(polygon)
    return polygons


def brute_force_pairs(
    areas: list[shapely.Polygon], lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for position, polygon in enumerate(areas):
        for sample in np.flatnonzero(shapely.intersects_xy(polygon, lon, lat)):
            pairs.add((int(sample), position))
    return pairs


def ring_vertices(polygons: list[shapely.Polygon]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two vertices of every ring (outer rings and holes): points exactly on the boundary."""
    coords = np.array(
        [
            vertex
            for polygon in polygons
            for ring in [polygon.exterior, *polygon.interiors]
            for vertex in ring.coords[:2]
        ]
    )
    return coords[:, 0], coords[:, 1]


@pytest.fixture(scope="module")
def thousand_areas() -> tuple[Zone, list[shapely.Polygon]]:
    areas = many_small_areas(np.random.default_rng(RNG_SEED), 1000)
    return synthetic_zone(areas, shapely.box(127.0, 37.0, 127.2, 37.2)), areas


def test_areas_containing_matches_brute_force_with_1000_areas(
    thousand_areas: tuple[Zone, list[shapely.Polygon]],
) -> None:
    zone, areas = thousand_areas
    rng = np.random.default_rng(RNG_SEED + 1)
    # Random points, plus points clustered inside areas so that hits are plentiful.
    centres = np.array([p.representative_point().coords[0] for p in areas[:300]])
    lon = np.concatenate([rng.uniform(126.99, 127.21, 3000), centres[:, 0] + rng.normal(0, 0.001, 300)])
    lat = np.concatenate([rng.uniform(36.99, 37.21, 3000), centres[:, 1] + rng.normal(0, 0.001, 300)])
    index = AreaIndex(zone)

    samples, positions = index.areas_containing(lon, lat)

    expected = brute_force_pairs(areas, lon, lat)
    assert len(expected) > 500  # the check is not vacuous
    assert set(zip(samples.tolist(), positions.tolist(), strict=True)) == expected
    assert len(samples) == len(expected)  # no duplicates
    assert np.all(np.diff(samples) >= 0)
    assert index.area_ids[positions[0]] == f"area-{positions[0]:04d}"


def test_points_on_edges_are_inside(thousand_areas: tuple[Zone, list[shapely.Polygon]]) -> None:
    zone, areas = thousand_areas
    lon, lat = ring_vertices(areas[:200])
    samples, positions = AreaIndex(zone).areas_containing(lon, lat)
    found = set(zip(samples.tolist(), positions.tolist(), strict=True))
    assert found == brute_force_pairs(areas, lon, lat)
    # Every vertex is in the area it was taken from (shapely's contains would say no).
    owners = np.repeat(np.arange(200), [2 * (1 + len(p.interiors)) for p in areas[:200]])
    assert len(owners) == len(lon)
    assert all((sample, int(owner)) in found for sample, owner in enumerate(owners))
    assert not areas[0].contains(shapely.Point(lon[0], lat[0]))


def test_area_sets_per_point(thousand_areas: tuple[Zone, list[shapely.Polygon]]) -> None:
    zone, areas = thousand_areas
    inside_first = areas[0].representative_point()
    sets = area_index(zone).area_sets([inside_first.x, 126.0, np.nan], [inside_first.y, 37.0, np.nan])
    expected_first = {f"area-{i:04d}" for i, polygon in enumerate(areas) if polygon.intersects(inside_first)}
    assert sets == [frozenset(expected_first), frozenset(), frozenset()]
    assert "area-0000" in sets[0]


def test_inside_boundary_counts_edges_and_rejects_nan(tmp_path: Path) -> None:
    from pilotzone.zones import load_zone

    zone = load_zone(g.write_yaml(tmp_path / "zone.yaml", g.base_config()))
    corner = g.BOUNDARY["coordinates"][0][0]
    lon = np.array([g.IN_ZONE_ONLY[0], g.OUTSIDE[0], corner[0], np.nan])
    lat = np.array([g.IN_ZONE_ONLY[1], g.OUTSIDE[1], corner[1], np.nan])
    assert AreaIndex(zone).inside_boundary(lon, lat).tolist() == [True, False, True, False]
    assert not zone.boundary.contains(shapely.Point(corner))  # why intersects is used


def test_lookup_is_vectorised_and_fast(thousand_areas: tuple[Zone, list[shapely.Polygon]]) -> None:
    zone, _ = thousand_areas
    index = AreaIndex(zone)
    rng = np.random.default_rng(RNG_SEED + 2)
    lon, lat = rng.uniform(127.0, 127.2, 200_000), rng.uniform(37.0, 37.2, 200_000)
    # CPU time, not the wall clock: on a shared, loaded machine waiting for a core took longer
    # than the lookup itself.
    started = time.process_time()
    index.areas_containing(lon, lat)
    index.inside_boundary(lon, lat)
    # Measured at about 0.1 s; a per-point Point() loop takes several seconds.
    assert time.process_time() - started < 2.0


def test_zone_without_areas_and_bad_shapes() -> None:
    zone = synthetic_zone([], shapely.box(127.0, 37.0, 127.1, 37.1))
    samples, positions = AreaIndex(zone).areas_containing([127.05], [37.05])
    assert (samples.tolist(), positions.tolist()) == ([], [])
    with pytest.raises(
        ValueError, match=r"lon and lat must be 1-D arrays of one length, got shapes \(2,\) and \(1,\)"
    ):
        AreaIndex(zone).inside_boundary([127.0, 127.1], [37.0])


def test_large_shapes_match_brute_force_on_grid_lines_edges_and_holes() -> None:
    """Areas and a boundary spanning many grid cells: cells they cover whole, or do not reach,
    decide their points without a polygon test; points on the cells' lines, on the shapes'
    edges and vertices and inside holes must still get ``intersects``' answer."""
    rng = np.random.default_rng(RNG_SEED + 2)
    star = shapely.Polygon(
        [
            (127.1 + r * np.cos(a), 37.1 + r * np.sin(a))
            for a, r in zip(np.linspace(0, 2 * np.pi, 41)[:-1], [0.09, 0.04] * 20, strict=True)
        ]
    )
    donut = (
        shapely.Point(127.05, 37.05)
        .buffer(0.04, quad_segs=16)
        .difference(shapely.Point(127.05, 37.05).buffer(0.015, quad_segs=16))
    )
    l_shape = shapely.Polygon(
        [(127.0, 37.0), (127.2, 37.0), (127.2, 37.03), (127.03, 37.03), (127.03, 37.2), (127.0, 37.2)]
    )
    areas = [star, donut, l_shape, *many_small_areas(rng, 40)]
    boundary = shapely.Polygon(
        [(126.99, 36.99), (127.21, 36.99), (127.21, 37.21), (127.1, 37.12), (126.99, 37.21)]
    )
    zone = synthetic_zone(areas, boundary)
    index = AreaIndex(zone)
    grid = np.linspace(0.0, 1.0, 125)
    # Points on the lines of grids of several sizes over the shapes' extent, and random points.
    gx, gy = np.meshgrid(127.0 + 0.2 * grid, 37.0 + 0.2 * grid[::7])
    edges = shapely.get_coordinates(
        shapely.segmentize(shapely.boundary(shapely.GeometryCollection([*areas[:3], boundary])), 0.002)
    )
    lon = np.concatenate(
        [gx.ravel(), gy.ravel() - 37.0 + 127.0, edges[:, 0], rng.uniform(126.98, 127.22, 20000)]
    )
    lat = np.concatenate(
        [gy.ravel(), gx.ravel() - 127.0 + 37.0, edges[:, 1], rng.uniform(36.98, 37.22, 20000)]
    )

    samples, positions = index.areas_containing(lon, lat)

    expected = brute_force_pairs(areas, lon, lat)
    assert len(expected) > 10_000
    assert set(zip(samples.tolist(), positions.tolist(), strict=True)) == expected
    assert index.inside_boundary(lon, lat).tolist() == shapely.intersects_xy(boundary, lon, lat).tolist()
