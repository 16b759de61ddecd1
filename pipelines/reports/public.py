"""What the public version of a report may show, decided table by table with ``suppression``.

The public version names no vehicle, places incidents only on a grid of ``GRID_M`` metre
cells, and withholds every figure about fewer than k distinct vehicles:

* the operator and class table: a row is about its group's vehicles (at least the most active
  in one window); rows are withheld whole, with the zone's total as the line's total;
* incidents by kind and severity: each cell is about the vehicles of its incidents (exact,
  from the incident log), with row, column and grand totals;
* the charts: a bucket is about the vehicles active in it (samples and km) or the vehicles of
  its incidents, with the zone's total as the line's total;
* the map: a grid cell is about the vehicles whose incidents started in it;
* reporting obligations: incidents that owe a report, by status (due, overdue, filed, not
  recorded), each count about the vehicles of its incidents, with their total.

Why 500 m: a fix is accurate to metres, so a finer grid would place an incident at a
building's door; a 500 m cell covers several city blocks (many streets, entrances and stops),
so it cannot point to a home, a depot bay or a single trip's start, yet still tells a reader
which neighbourhood of a district the incidents cluster in, which the zone's areas (whole
districts of tens of km²) cannot.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pilotzone.geo import LocalFrame
from pilotzone.pipelines.reports.figures import SEVERITIES, Bucket, GroupFigures
from pilotzone.pipelines.reports.filings import NOT_REQUIRED
from pilotzone.pipelines.reports.suppression import Cell, Line, stand_in_vehicles, suppress, table_lines

GRID_M = 500.0
TOTAL = "total"


@dataclass(frozen=True)
class Grid:
    """Square cells of ``GRID_M`` metres in a local frame anchored at the zone's south-west corner."""

    frame: LocalFrame
    size_m: float = GRID_M

    @classmethod
    def for_bounds(cls, west: float, south: float) -> Grid:
        """The grid of a zone whose bounding box starts at ``west``, ``south``."""
        return cls(LocalFrame.around(west, south))

    def cell_of(self, lon: float, lat: float) -> tuple[int, int]:
        """(column, row) of the cell holding a point."""
        x, y = self.frame.to_local(np.array([lon]), np.array([lat]))
        return math.floor(float(x[0]) / self.size_m), math.floor(float(y[0]) / self.size_m)

    def corners(self, cell: tuple[int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
        """(west, south) and (east, north) of a cell, lon/lat degrees."""
        column, row = cell
        lon, lat = self.frame.to_lonlat(
            np.array([column * self.size_m, (column + 1) * self.size_m]),
            np.array([row * self.size_m, (row + 1) * self.size_m]),
        )
        return (float(lon[0]), float(lat[0])), (float(lon[1]), float(lat[1]))


def group_rows(groups: Sequence[GroupFigures], total: GroupFigures, k: int) -> tuple[set[int], bool]:
    """Indexes of the groups to withhold, and whether the total must be withheld too."""
    cells: dict[Hashable, Cell] = {
        index: Cell(
            group.samples, stand_in_vehicles(group.min_vehicles, f"{group.operator}/{group.vehicle_class}")
        )
        for index, group in enumerate(groups)
    }
    cells[TOTAL] = Cell(total.samples, stand_in_vehicles(total.min_vehicles, "zone"))
    hidden = suppress(cells, [Line(tuple(range(len(groups))), TOTAL)], k)
    return {key for key in hidden if isinstance(key, int)}, TOTAL in hidden


@dataclass(frozen=True)
class KindSeverityTable:
    """Incidents by kind (rows) and severity (columns), margins keyed ``TOTAL``."""

    kinds: tuple[str, ...]
    cells: dict[tuple[str, str], Cell]
    hidden: set[Hashable]


def kind_severity_table(incidents: Sequence[dict[str, Any]], k: int) -> KindSeverityTable:
    """The public incidents table with its suppressed cells."""
    kinds = tuple(sorted({row["kind"] for row in incidents}))
    cells: dict[tuple[str, str], Cell] = {}
    for kind in (*kinds, TOTAL):
        for severity in (*SEVERITIES, TOTAL):
            chosen = [
                row
                for row in incidents
                if kind in {TOTAL, row["kind"]} and severity in {TOTAL, row["severity"]}
            ]
            cells[(kind, severity)] = Cell(len(chosen), frozenset(row["vehicle_id"] for row in chosen))
    hidden = suppress(cells, table_lines(kinds, SEVERITIES, TOTAL), k)  # type: ignore[arg-type]
    return KindSeverityTable(kinds, cells, hidden)


def bucket_suppression(
    buckets: Sequence[Bucket], total_vehicles: int, incidents: int, k: int
) -> tuple[set[int], set[int]]:
    """Buckets whose activity (samples, km) and whose incident counts must be withheld."""
    activity: dict[Hashable, Cell] = {
        index: Cell(bucket.samples, stand_in_vehicles(bucket.min_vehicles, "zone"))
        for index, bucket in enumerate(buckets)
    }
    activity[TOTAL] = Cell(sum(b.samples for b in buckets), stand_in_vehicles(total_vehicles, "zone"))
    line = Line(tuple(range(len(buckets))), TOTAL)
    hidden_activity = suppress(activity, [line], k)
    counted: dict[Hashable, Cell] = {
        index: Cell(bucket.incidents, frozenset(bucket.incident_vehicles))
        for index, bucket in enumerate(buckets)
    }
    counted[TOTAL] = Cell(incidents, frozenset().union(*(b.incident_vehicles for b in buckets)))
    hidden_incidents = suppress(counted, [line], k)
    return (
        {key for key in hidden_activity if isinstance(key, int)},
        {key for key in hidden_incidents if isinstance(key, int)},
    )


def grid_cells(
    incidents: Sequence[dict[str, Any]], grid: Grid, k: int
) -> tuple[dict[tuple[int, int], Cell], set[Hashable]]:
    """Incidents per grid cell (by where they started) and the cells to withhold."""
    vehicles: dict[tuple[int, int], list[str]] = {}
    for row in incidents:
        vehicles.setdefault(grid.cell_of(row["longitude"], row["latitude"]), []).append(row["vehicle_id"])
    cells: dict[Hashable, Cell] = {
        cell: Cell(len(ids), frozenset(ids)) for cell, ids in sorted(vehicles.items())
    }
    members = tuple(cells)
    cells[TOTAL] = Cell(len(incidents), frozenset(row["vehicle_id"] for row in incidents))
    hidden = suppress(cells, [Line(members, TOTAL)], k)
    return {key: cell for key, cell in cells.items() if key != TOTAL}, hidden  # type: ignore[misc]


@dataclass(frozen=True)
class PublicView:
    """Every withholding decision of one public report, made once for the renderer and the tests."""

    k: int
    hidden_groups: set[int]
    total_hidden: bool
    kinds: KindSeverityTable
    hidden_activity: set[int]
    hidden_bucket_incidents: set[int]
    grid: Grid
    grid_cells: dict[tuple[int, int], Cell]
    hidden_grid_cells: set[Hashable]
    serious_vehicles: int
    """Distinct vehicles of the CRITICAL and MAJOR incidents (the grade's second criterion)."""
    report_statuses: dict[Hashable, Cell]
    """Incidents that owe a report, by status (``filings``), and their ``TOTAL``."""
    hidden_report_statuses: set[Hashable]

    @property
    def incident_total_hidden(self) -> bool:
        """Whether the zone's incident count is withheld."""
        return (TOTAL, TOTAL) in self.kinds.hidden


def public_view(
    groups: Sequence[GroupFigures],
    *,
    total: GroupFigures,
    buckets: Sequence[Bucket],
    incidents: Sequence[dict[str, Any]],
    statuses: Sequence[str],
    bounds: tuple[float, float, float, float],
    k: int,
) -> PublicView:
    """Decide what the public report withholds (module docstring); ``statuses`` are the
    incidents' report statuses, in the incidents' order."""
    hidden_groups, total_hidden = group_rows(groups, total, k)
    hidden_activity, hidden_bucket_incidents = bucket_suppression(
        buckets, total.min_vehicles, len(incidents), k
    )
    grid = Grid.for_bounds(bounds[0], bounds[1])
    located = [
        row for row in incidents if row.get("longitude") is not None and row.get("latitude") is not None
    ]
    cells, hidden_cells = grid_cells(located, grid, k)
    serious = {row["vehicle_id"] for row in incidents if row["severity"] in {"CRITICAL", "MAJOR"}}
    owing = [(row, status) for row, status in zip(incidents, statuses, strict=True) if status != NOT_REQUIRED]
    report_statuses: dict[Hashable, Cell] = {
        status: Cell(len(ids), frozenset(ids))
        for status in sorted({status for _row, status in owing})
        for ids in [[row["vehicle_id"] for row, s in owing if s == status]]
    }
    members = tuple(report_statuses)
    report_statuses[TOTAL] = Cell(len(owing), frozenset(row["vehicle_id"] for row, _status in owing))
    hidden_statuses = suppress(report_statuses, [Line(members, TOTAL)], k)
    return PublicView(
        k,
        hidden_groups,
        total_hidden,
        kind_severity_table(incidents, k),
        hidden_activity,
        hidden_bucket_incidents,
        grid,
        cells,
        hidden_cells,
        len(serious),
        report_statuses,
        hidden_statuses,
    )
