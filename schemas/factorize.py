"""Distinct strings and codes of an id column, as ``np.unique`` gives them, without its cost.

``np.unique(ids.astype(str), return_inverse=True)`` converts every id into a fixed-width
unicode array and sorts all of it: on a replay's columns (a few thousand vehicles over
hundreds of thousands of samples) that was the largest single cost after the columnar decode.
Hashing in polars and sorting only the distinct values gives the same answer several times
faster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

RUN_LENGTH_WORTH_IT = 8
"""Below this many rows per run of equal ids on average, hashing every row in polars is cheaper."""


def sorted_codes(values: npt.NDArray[Any]) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The distinct strings of ``values`` in code-point order, and each value's position among them.

    The same as ``np.unique(values.astype(str), return_inverse=True)``: UTF-8 byte order,
    which polars sorts by, is code-point order, which numpy sorts by.
    """
    import polars as pl

    if len(values) == 0:
        return [], np.zeros(0, dtype=np.int64)
    first = values[0]
    if isinstance(first, str) and (values == first).all():
        return [first], np.zeros(len(values), dtype=np.int64)
    heads = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
    if len(heads) * RUN_LENGTH_WORTH_IT <= len(values):
        return _codes_of_runs(values, heads)
    series = pl.Series(values, dtype=pl.String)
    distinct = series.unique().sort()
    codes = series.replace_strict(
        distinct, pl.int_range(0, len(distinct), eager=True), return_dtype=pl.Int64
    ).to_numpy()
    return distinct.to_list(), codes.astype(np.int64, copy=False)


def _codes_of_runs(
    values: npt.NDArray[Any], heads: npt.NDArray[np.intp]
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """``sorted_codes`` of a column in runs of equal ids (a vehicle's samples of one upload):
    the runs are found by an element-wise object comparison in C, and only the first id of
    each run is sorted and looked up, in Python, whose ``str`` order is code-point order."""
    firsts = values[heads].tolist()
    distinct = sorted(set(firsts))
    position = {value: code for code, value in enumerate(distinct)}
    run_codes = np.array([position[value] for value in firsts], dtype=np.int64)
    codes: npt.NDArray[np.int64] = np.repeat(run_codes, np.diff(np.concatenate([heads, [len(values)]])))
    return distinct, codes


def string_codes(series: Any) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The distinct values of a polars string column in order of first appearance, and each
    row's position among them, with one Python ``str`` per distinct value, not per row.

    ``Series.to_numpy()`` on a string column builds a Python string for every row: on a
    columnar decode of a replay (ids in runs of a vehicle's upload) that was the largest cost
    after the reader itself. Runs are found in polars (``rle``, a byte comparison), and only
    the first value of each run becomes a Python string; a column without long runs is hashed
    in polars instead. A null is ``None`` among the distinct values, as ``to_numpy`` gives it.
    """
    import polars as pl

    size = len(series)
    if size == 0:
        return [], np.zeros(0, dtype=np.int64)
    runs = series.rle().struct.unnest()
    if len(runs) * RUN_LENGTH_WORTH_IT <= size:
        index: dict[str, int] = {}
        heads = runs.get_column("value").to_list()
        run_codes = np.fromiter(
            (index.setdefault(value, len(index)) for value in heads), dtype=np.int64, count=len(heads)
        )
        codes: npt.NDArray[np.int64] = np.repeat(run_codes, runs.get_column("len").to_numpy())
        return list(index), codes
    distinct = series.unique(maintain_order=True)
    positions = series.replace_strict(
        distinct, pl.int_range(0, len(distinct), eager=True), return_dtype=pl.Int64
    ).to_numpy()
    return distinct.to_list(), positions.astype(np.int64, copy=False)
