"""The map and the charts as SVG: drawn from the zone's geometry, one marker per incident, no network."""

from __future__ import annotations

import re

import shapely

from pilotzone.pipelines.reports.svgcharts import Bar, bar_chart
from pilotzone.pipelines.reports.svgmap import (
    MARGIN_PX,
    WIDTH_PX,
    GridSquare,
    Marker,
    Projection,
    path_data,
    zone_map,
)
from pilotzone.zones import Zone


def test_the_projection_fits_the_width_and_keeps_north_up() -> None:
    projection = Projection.fit((126.83, 35.14, 126.88, 35.175))
    assert projection.xy(126.83, 35.175) == (MARGIN_PX, MARGIN_PX)
    east, south = projection.xy(126.88, 35.14)
    assert round(east, 6) == WIDTH_PX - MARGIN_PX
    assert round(south, 6) == round(projection.height - MARGIN_PX, 6)


def test_holes_are_drawn_as_rings_of_the_same_path() -> None:
    ring = shapely.Polygon(
        [(0, 0), (1, 0), (1, 1), (0, 1)], holes=[[(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]]
    )
    data = path_data(Projection.fit((0, 0, 1, 1)), ring)
    assert data.count("M") == 2 and data.count("Z") == 2


def test_the_map_has_the_boundary_every_area_and_one_marker_per_incident(
    every_kind_zones: list[Zone],
) -> None:
    zone = every_kind_zones[0]
    markers = [Marker(n, 126.84 + n / 100, 35.15, "MINOR", f"#{n}") for n in (1, 2, 3)]
    svg = zone_map(zone, markers=markers)
    assert svg.count('class="boundary"') == 1
    assert sorted(re.findall(r'data-area="([^"]+)"', svg)) == sorted(zone.areas)
    assert re.findall(r'class="incident-marker" data-incident="(\d+)"', svg) == ["1", "2", "3"]
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_public_grid_cells_are_marked_suppressed(every_kind_zones: list[Zone]) -> None:
    squares = [
        GridSquare(126.84, 35.15, 126.845, 35.1545, "12 incidents", False),
        GridSquare(126.85, 35.15, 126.855, 35.1545, "suppressed", True),
    ]
    svg = zone_map(every_kind_zones[0], squares=squares)
    assert re.findall(r'<rect class="(grid-cell[^"]*)"', svg) == ["grid-cell", "grid-cell suppressed"]
    assert "incident-marker" not in svg


def test_a_chart_has_one_bar_per_bucket_and_hatches_what_is_withheld() -> None:
    svg = bar_chart(
        "Incidents", "incidents", [Bar("10:00", 2.0), Bar("10:01", 0.0), Bar("10:02", None, True)]
    )
    assert re.findall(r'class="bar" data-value="([^"]+)"', svg) == ["2", "0"]
    assert svg.count('class="bar suppressed"') == 1
