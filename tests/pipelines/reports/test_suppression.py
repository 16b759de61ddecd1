"""Small-cell suppression: the k rule, complementary suppression, and properties over random tables."""

from __future__ import annotations

from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.pipelines.reports.suppression import Cell, Line, stand_in_vehicles, suppress, table_lines

TOTAL = "total"


def cell(value: float, *vehicles: str) -> Cell:
    return Cell(value, frozenset(vehicles))


def test_a_cell_about_fewer_than_k_vehicles_is_withheld_and_a_partner_with_it() -> None:
    cells: dict[Hashable, Cell] = {
        "a": cell(3, "v1", "v2"),
        "b": cell(5, "v3", "v4", "v5"),
        "c": cell(9, *(f"w{n}" for n in range(6))),
        TOTAL: cell(17, "v1", "v2", "v3", "v4", "v5", *(f"w{n}" for n in range(6))),
    }
    # k = 3: a (2 vehicles) is primary; alone it would be total - b - c, so b (3 vehicles, the
    # fewest left) joins it: together 5 vehicles.
    assert suppress(cells, [Line(("a", "b", "c"), TOTAL)], k=3) == {"a", "b"}


def test_partners_are_added_until_the_withheld_cells_together_reach_k() -> None:
    cells: dict[Hashable, Cell] = {
        "a": cell(1, "v1"),
        "b": cell(1, "v2"),
        "c": cell(2, "v3", "v4"),
        "d": cell(7, *(f"w{n}" for n in range(5))),
        TOTAL: cell(11, "v1", "v2", "v3", "v4", *(f"w{n}" for n in range(5))),
    }
    # k = 5: a, b, c primary (4 vehicles together) -> d joins (9 vehicles).
    assert suppress(cells, [Line(("a", "b", "c", "d"), TOTAL)], k=5) == {"a", "b", "c", "d"}


def test_with_no_partner_left_the_total_is_withheld() -> None:
    cells: dict[Hashable, Cell] = {"a": cell(1, "v1"), "b": cell(0), TOTAL: cell(1, "v1")}
    assert suppress(cells, [Line(("a", "b"), TOTAL)], k=2) == {"a", TOTAL}


def test_zero_cells_and_cells_of_k_vehicles_are_published() -> None:
    cells: dict[Hashable, Cell] = {"a": cell(0), "b": cell(4, "v1", "v2"), TOTAL: cell(4, "v1", "v2")}
    assert suppress(cells, [Line(("a", "b"), TOTAL)], k=2) == set()


def test_stand_ins_of_one_group_overlap_and_of_two_groups_do_not() -> None:
    assert stand_in_vehicles(3, "zone") | stand_in_vehicles(5, "zone") == stand_in_vehicles(5, "zone")
    assert len(stand_in_vehicles(3, "a") | stand_in_vehicles(5, "b")) == 8


def test_k_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        suppress({TOTAL: cell(0)}, [], k=0)


# A random two-way table: rows x columns, each cell's incidents by vehicles from a small pool,
# so that cells share vehicles the way real incident tables do.
incident_lists = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 24)), min_size=0, max_size=60
)


def two_way_table(incidents: list[tuple[int, int, int]]) -> tuple[dict[Hashable, Cell], list[Line]]:
    rows, columns = range(4), range(3)
    cells: dict[Hashable, Cell] = {}
    for row in (*rows, TOTAL):
        for column in (*columns, TOTAL):
            chosen = [vehicle for r, c, vehicle in incidents if row in {TOTAL, r} and column in {TOTAL, c}]
            cells[(row, column)] = Cell(len(chosen), frozenset(f"v{v}" for v in chosen))
    return cells, table_lines(tuple(rows), tuple(columns), TOTAL)


@settings(max_examples=300, deadline=None)
@given(incidents=incident_lists, k=st.integers(1, 12))
def test_no_published_cell_is_about_fewer_than_k_vehicles(
    incidents: list[tuple[int, int, int]], k: int
) -> None:
    cells, lines = two_way_table(incidents)
    hidden = suppress(cells, lines, k)
    for key, value in cells.items():
        if key not in hidden:
            assert len(value.vehicles) == 0 or len(value.vehicles) >= k, (key, value)


@settings(max_examples=300, deadline=None)
@given(incidents=incident_lists, k=st.integers(1, 12))
def test_no_line_lets_a_reader_recover_a_group_of_fewer_than_k_vehicles(
    incidents: list[tuple[int, int, int]], k: int
) -> None:
    """Where a line's total is published, its withheld members can be recovered only together
    (total minus the published ones): together they must be about k vehicles or more."""
    cells, lines = two_way_table(incidents)
    hidden = suppress(cells, lines, k)
    for line in lines:
        withheld = [m for m in line.members if m in hidden]
        if line.total in hidden or not withheld:
            continue
        together = frozenset().union(*(cells[m].vehicles for m in withheld))
        assert len(together) >= k, (line, withheld)
        # and the recovered sum is exactly what the reader would compute
        published = sum(cells[m].value for m in line.members if m not in hidden)
        assert cells[line.total].value - published == sum(cells[m].value for m in withheld)
