"""Summing window-summary partials at once equals merging them pairwise, in any order."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.zones.evaluate import WindowSummary
from pilotzone.zones.evaluate.summaries import SummaryKey, sum_by_key, sum_partials

MODES = ("MANUAL", "AUTONOMOUS", "REMOTE")
RULES = ("speed", "dwell", "gap")


def summary(window: int, version: str = "sha256:a", **values: Any) -> WindowSummary:
    return WindowSummary("z", version, "op", "CAR", window, **values)


def in_key_order(values: dict[Any, Any]) -> dict[Any, Any]:
    """Dicts as the evaluator makes them: keys sorted."""
    return dict(sorted(values.items()))


def thousandths(top: int) -> st.SearchStrategy[float]:
    """Figures as the evaluator makes them: whole ms or mm divided by 1000."""
    return st.integers(0, top).map(lambda k: k / 1000)


partials = st.builds(
    summary,
    st.sampled_from([0, 60_000]),
    version=st.sampled_from(["sha256:a", "sha256:b"]),
    samples=st.integers(0, 70),
    vehicle_ids=st.frozensets(st.sampled_from(["a", "b", "c", "d"]), max_size=2),
    vehicle_seconds=thousandths(60_000),
    distance_m_by_mode=st.dictionaries(st.sampled_from(MODES), thousandths(10**7), max_size=3).map(
        in_key_order
    ),
    violation_s_by_rule=st.dictionaries(st.sampled_from(RULES), thousandths(60_000), max_size=3).map(
        in_key_order
    ),
    incidents_opened=st.dictionaries(
        st.tuples(st.sampled_from(RULES), st.sampled_from(["MINOR", "MAJOR"])), st.integers(-1, 3), max_size=2
    ).map(in_key_order),
    disengagements=st.integers(0, 3),
    remote_takeovers=st.integers(0, 3),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(partials, min_size=1, max_size=12))
def test_summing_by_key_equals_pairwise_merges(items: list[WindowSummary]) -> None:
    expected: dict[SummaryKey, WindowSummary] = {}
    for item in items:
        expected[item.key] = expected[item.key].merge(item) if item.key in expected else item
    summed = sum_by_key(items)
    assert [s.key for s in summed] == sorted(expected)
    for total in summed:
        assert total == expected[total.key]
        # The same dict order too, as the summaries file writes them.
        assert list(total.distance_m_by_mode) == list(expected[total.key].distance_m_by_mode)


def test_sum_of_three_partials_is_exact() -> None:
    a = summary(
        0, samples=1, vehicle_ids=frozenset({"a"}), vehicle_seconds=0.1, distance_m_by_mode={"MANUAL": 0.1}
    )
    b = summary(
        0, samples=2, vehicle_ids=frozenset({"b"}), vehicle_seconds=0.2, violation_s_by_rule={"r": 0.7}
    )
    c = summary(
        0, samples=3, vehicle_ids=frozenset({"a"}), vehicle_seconds=0.3, distance_m_by_mode={"MANUAL": 0.2}
    )
    assert sum_partials([a, b, c]) == summary(
        0,
        samples=6,
        vehicle_ids=frozenset({"a", "b"}),
        vehicle_seconds=0.6,
        distance_m_by_mode={"MANUAL": 0.3},
        violation_s_by_rule={"r": 0.7},
    )
    assert sum_partials([a, b, c]) == functools.reduce(WindowSummary.merge, [c, a, b])


def test_sum_refuses_no_partials_and_mixed_keys() -> None:
    with pytest.raises(ValueError, match="at least one"):
        sum_partials([])
    with pytest.raises(ValueError, match="different keys"):
        sum_partials([summary(0), summary(60_000)])
