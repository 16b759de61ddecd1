"""``sorted_codes`` answers exactly as ``np.unique(..., return_inverse=True)`` does."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.schemas.factorize import sorted_codes


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
