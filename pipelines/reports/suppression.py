"""Small-cell suppression: no published figure about fewer than k distinct vehicles.

A table is cells and lines. Each cell knows its value and the vehicles it is about (the
vehicles whose data it sums). A line is a set of member cells whose values add up to a total
cell (a row with its row total, a column with its column total, the buckets of a chart with the
zone's total). The rules:

* **Primary suppression**: a cell about 1 to k - 1 vehicles is suppressed. A cell about no
  vehicle (a zero) is published: it says nothing about anyone.
* **Complementary suppression**: in a line whose total is published, the suppressed members
  can be recovered *together* as total - published members. So their combined vehicles (the
  union) must also be at least k: while they are not, the published member about the fewest
  vehicles (then the smallest value, then the first) is suppressed as well; when no member is
  left, the total is. The rules are applied until nothing changes, so a cell suppressed for one
  line is accounted for in every line it belongs to.

When only a lower bound of a cell's vehicles is known (the window summaries count vehicles per
window, not across windows), the caller gives that many stand-in ids: shared between cells when
they may be the same vehicles (time buckets), distinct when they cannot (operators' groups), so
a union is never larger than the truth.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

DEFAULT_K = 10
"""The MDS convention (Mobility Data Specification): no figure about fewer than 10 vehicles."""


@dataclass(frozen=True)
class Cell:
    """One figure and the vehicles it is about."""

    value: float
    vehicles: frozenset[str]


@dataclass(frozen=True)
class Line:
    """Member cells that add up to a total cell."""

    members: tuple[Hashable, ...]
    total: Hashable


def stand_in_vehicles(count: int, group: str = "") -> frozenset[str]:
    """``count`` stand-in ids: equal for equal ``group``, so unions of one group overlap."""
    return frozenset(f"{group}#{n}" for n in range(count))


def _vehicles(cells: Mapping[Hashable, Cell], keys: Iterable[Hashable]) -> frozenset[str]:
    return frozenset().union(*(cells[key].vehicles for key in keys))


def suppress(cells: Mapping[Hashable, Cell], lines: Sequence[Line], k: int = DEFAULT_K) -> set[Hashable]:
    """The keys of the cells to withhold (module docstring); ``k`` >= 1."""
    if k < 1:
        raise ValueError("k must be at least 1")
    order = {key: position for position, key in enumerate(cells)}
    hidden = {key for key, cell in cells.items() if 0 < len(cell.vehicles) < k}
    changed = True
    while changed:
        changed = False
        for line in lines:
            if line.total in hidden:
                continue
            members = [m for m in line.members if m in hidden]
            if not members or len(_vehicles(cells, members)) >= k:
                continue
            candidates = [m for m in line.members if m not in hidden and cells[m].vehicles]
            if candidates:
                hidden.add(min(candidates, key=lambda m: (len(cells[m].vehicles), cells[m].value, order[m])))
            else:
                hidden.add(line.total)
            changed = True
    return hidden


def table_lines(rows: Sequence[Hashable], columns: Sequence[Hashable], total: Hashable) -> list[Line]:
    """The lines of a two-way table keyed ``(row, column)`` with margins ``(row, total)``,
    ``(total, column)`` and ``(total, total)``."""
    lines = [Line(tuple((row, column) for column in columns), (row, total)) for row in rows]
    lines += [Line(tuple((row, column) for row in rows), (total, column)) for column in columns]
    lines.append(Line(tuple((row, total) for row in rows), (total, total)))
    lines.append(Line(tuple((total, column) for column in columns), (total, total)))
    return lines
