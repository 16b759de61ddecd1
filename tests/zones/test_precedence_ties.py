"""Precedence ties: the bucketed bit-mask search finds exactly the pairs a pairwise check finds, fast."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.zones.kinds.speed_limit import SpeedLimitRule
from pilotzone.zones.kinds.vehicle_event import VehicleEventRule
from pilotzone.zones.model import Initiator, Rule, VehicleClass
from pilotzone.zones.rules import precedence_ties
from pilotzone.zones.schedule import week_minutes
from tests.zones.deadline import deadline, timed

WINDOWS = [
    {"start": "07:00", "end": "09:00"},
    {"start": "08:30", "end": "10:00", "days": ["mon", "tue"]},
    {"start": "22:00", "end": "06:00"},
    {"start": "06:00", "end": "22:00", "days": ["sat", "sun"]},
    {"start": "00:00", "end": "24:00", "days": ["wed"]},
]
CLASSES = ["CAR", "BUS", "DELIVERY_ROBOT"]
INITIATORS = ["SYSTEM", "SAFETY_DRIVER", "REMOTE_OPERATOR"]


def _maybe_subset(options: list[Any]) -> st.SearchStrategy[list[Any] | None]:
    return st.one_of(st.none(), st.lists(st.sampled_from(options), max_size=len(options), unique=True))


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    count = draw(st.integers(min_value=0, max_value=14))
    ids = draw(st.permutations([f"r{i:02d}" for i in range(count)]))
    rules: list[Rule] = []
    for rule_id in ids:
        applies: dict[str, Any] = {
            "areas": draw(_maybe_subset(["a", "b", "c"])),
            "vehicle_classes": draw(_maybe_subset(CLASSES)),
            "schedule": draw(st.one_of(st.none(), st.lists(st.sampled_from(WINDOWS), max_size=2))),
        }
        common = {"id": rule_id, "priority": draw(st.sampled_from([None, 0, 1])), "applies": applies}
        if draw(st.booleans()):
            rules.append(SpeedLimitRule.model_validate({**common, "limit_kmh": 50}))
        else:
            rules.append(
                VehicleEventRule.model_validate(
                    {
                        **common,
                        "event": draw(st.sampled_from(["COLLISION", "DISENGAGEMENT"])),
                        "initiated_by": draw(_maybe_subset(INITIATORS)),
                    }
                )
            )
    return rules


def pairwise_ties(rules: list[Rule]) -> list[tuple[str, str, str]]:
    """The definition, checked pair by pair: the quadratic reference."""
    groups: dict[tuple[str, str | None], list[Rule]] = {}
    for rule in rules:
        subject = str(rule.event) if isinstance(rule, VehicleEventRule) else None
        groups.setdefault((rule.kind, subject), []).append(rule)
    ties = []
    for group in groups.values():
        for first, second in itertools.combinations(sorted(group, key=lambda r: r.id), 2):
            if (first.priority or 0) != (second.priority or 0):
                continue
            a, b = first.applies.areas, second.applies.areas
            if a is None and b is None:
                scope = "zone-wide"
            elif a is None or b is None or not set(a) & set(b):
                continue
            else:
                scope = f"in area {sorted(set(a) & set(b))[0]}"
            if not _everything(first.applies.vehicle_classes, VehicleClass) & _everything(
                second.applies.vehicle_classes, VehicleClass
            ):
                continue
            if (
                isinstance(first, VehicleEventRule)
                and isinstance(second, VehicleEventRule)
                and not _everything(first.initiated_by, Initiator)
                & _everything(second.initiated_by, Initiator)
            ):
                continue
            if not (week_minutes(first.applies.schedule) & week_minutes(second.applies.schedule)).any():
                continue
            ties.append((first.id, second.id, scope))
    return ties


def _everything(chosen: list[Any] | None, every: Any) -> set[Any]:
    return set(every) if chosen is None else set(chosen)


def _ids(pairs: tuple[tuple[Rule, Rule, str], ...]) -> list[tuple[str, str, str]]:
    return [(first.id, second.id, scope) for first, second, scope in pairs]


@settings(max_examples=150, deadline=None)
@given(rule_sets())
def test_every_tie_is_found_in_the_pairwise_order(rules: list[Rule]) -> None:
    expected = pairwise_ties(rules)
    found = precedence_ties(rules)

    assert _ids(found.pairs) == expected
    assert found.tied_rules == len({rule_id for pair in expected for rule_id in pair[:2]})
    assert found.complete


@settings(max_examples=100, deadline=None)
@given(rule_sets(), st.integers(min_value=0, max_value=6))
def test_a_limit_lists_fewer_pairs_but_counts_every_tied_rule(rules: list[Rule], limit: int) -> None:
    expected = pairwise_ties(rules)
    found = precedence_ties(rules, limit=limit)

    listed = _ids(found.pairs)
    assert len(listed) == min(limit, len(expected))
    assert listed == [pair for pair in expected if pair in listed]  # a subset, in the same order
    assert found.complete == (len(expected) <= limit)
    assert found.tied_rules == len({rule_id for pair in expected for rule_id in pair[:2]})


def _speed_limits(count: int, schedule: Any) -> list[Rule]:
    return [
        SpeedLimitRule.model_validate(
            {"id": f"s{i:05d}", "limit_kmh": 50, "applies": {"schedule": schedule(i)}}
        )
        for i in range(count)
    ]


def _minute(i: int) -> list[dict[str, Any]]:
    day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][i % 7]
    start = i // 7
    end = start + 1
    return [
        {
            "days": [day],
            "start": f"{start // 60:02d}:{start % 60:02d}",
            "end": f"{end // 60:02d}:{end % 60:02d}",
        }
    ]


def test_ten_thousand_rules_tied_or_not_are_checked_in_linear_time() -> None:
    # All tied (50 million pairs), and none tied (one minute each, no early exit): both linear.
    tied = _speed_limits(10_000, lambda i: None)
    apart = _speed_limits(10_000, _minute)

    with deadline(120), timed() as elapsed:
        all_tied = precedence_ties(tied, limit=20)
        none_tied = precedence_ties(apart, limit=20)

    assert (len(all_tied.pairs), all_tied.tied_rules, all_tied.complete) == (20, 10_000, False)
    assert (len(none_tied.pairs), none_tied.tied_rules, none_tied.complete) == (0, 0, True)
    assert elapsed[0] < 10
