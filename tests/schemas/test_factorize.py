"""``sorted_codes`` answers exactly as ``np.unique(..., return_inverse=True)`` does."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.schemas.factorize import sorted_codes, string_codes


def _objects(values: list[str]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


# The first call imports polars: no deadline on a loaded machine.
@settings(deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["veh-0002", "veh-0010", "veh-1", "광주-셔틀-07", "Zeta", "zeta", "é", "e\u0301", ""]
        ),
        max_size=60,
    )
)
def test_sorted_codes_equal_numpy_unique(values: list[str]) -> None:
    distinct, codes = sorted_codes(_objects(values))
    if not values:
        assert (distinct, codes.tolist()) == ([], [])
        return
    expected, inverse = np.unique(np.array(values, dtype=str), return_inverse=True)
    assert distinct == expected.tolist()
    assert codes.tolist() == inverse.tolist()
    assert codes.dtype == np.int64


def test_one_vehicle_needs_no_hashing() -> None:
    distinct, codes = sorted_codes(_objects(["veh-a"] * 4))
    assert (distinct, codes.tolist()) == (["veh-a"], [0, 0, 0, 0])


# The first call imports polars: no deadline on a loaded machine.
@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["veh-0002", "veh-0010", "광주-셔틀-07", "Zeta", "zeta", "e\u0301", ""]),
            st.integers(1, 20),
        ),
        max_size=12,
    )
)
def test_ids_in_runs_get_the_codes_numpy_unique_gives(runs: list[tuple[str, int]]) -> None:
    values = [value for value, length in runs for _ in range(length)]
    distinct, codes = sorted_codes(_objects(values))
    if not values:
        assert (distinct, codes.tolist()) == ([], [])
        return
    expected, inverse = np.unique(np.array(values, dtype=str), return_inverse=True)
    assert distinct == expected.tolist()
    assert codes.tolist() == inverse.tolist()
    assert codes.dtype == np.int64


def test_a_trailing_nul_stays_a_distinct_id_in_runs() -> None:
    distinct, codes = sorted_codes(_objects(["veh-b\x00"] * 8 + ["veh-b"] * 8))
    assert (distinct, codes.tolist()) == (["veh-b", "veh-b\x00"], [1] * 8 + [0] * 8)


IDS = ["veh-0002", "veh-1", "광주-셔틀-07", "Zeta", "é", "e\u0301", "", "veh-b\x00", "veh-b", "🚌-07", None]
"""Ids a string column can hold: non-ASCII, combining marks, astral characters (a surrogate
pair in UTF-16, one code point here), a trailing NUL, and a null."""


def _first_appearance(values: list[str | None]) -> list[str | None]:
    return list(dict.fromkeys(values))


# The first call imports polars: no deadline on a loaded machine.
@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(IDS), st.integers(1, 30)), max_size=12))
def test_string_codes_give_the_column_to_numpy_gives(runs: list[tuple[str | None, int]]) -> None:
    """Runs long and short, so both the run-length path and the hashed path answer."""
    values = [value for value, length in runs for _ in range(length)]
    series = pl.Series(values, dtype=pl.String)
    distinct, codes = string_codes(series)
    assert distinct == _first_appearance(values)
    assert [distinct[code] for code in codes.tolist()] == series.to_numpy().tolist() == values
    assert codes.dtype == np.int64


def test_string_codes_of_one_and_of_many_interleaved_ids() -> None:
    one = pl.Series(["veh-a"] * 50, dtype=pl.String)
    assert [(d, c.tolist()) for d, c in [string_codes(one)]] == [(["veh-a"], [0] * 50)]
    interleaved = [f"veh-{i % 7}" for i in range(70)]  # runs of one: the hashed path
    distinct, codes = string_codes(pl.Series(interleaved, dtype=pl.String))
    assert distinct == [f"veh-{i}" for i in range(7)]
    assert codes.tolist() == [i % 7 for i in range(70)]
    assert string_codes(pl.Series([], dtype=pl.String))[0] == []
