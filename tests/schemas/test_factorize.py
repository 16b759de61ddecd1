"""``sorted_codes`` answers exactly as ``np.unique(..., return_inverse=True)`` does."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pilotzone.schemas.factorize import sorted_codes


def _objects(values: list[str]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


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
