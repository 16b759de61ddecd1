"""The zone grade: worst of three banded criteria, rates not rated below 100 km."""

from __future__ import annotations

from collections import Counter

import pytest

from pilotzone.pipelines.reports.figures import GroupFigures
from pilotzone.pipelines.reports.grade import zone_grade


def figures(
    *, violation_s: float = 0.0, km: float = 1000.0, serious: int = 0, minor: int = 0, handovers: int = 0
) -> GroupFigures:
    return GroupFigures(
        "all",
        "all",
        vehicle_seconds=100_000.0,
        violation_seconds=violation_s,
        distance_m_by_mode=Counter({"AUTONOMOUS": km * 1000}),
        incidents=Counter({("speed_limit", "MAJOR"): serious, ("speed_limit", "MINOR"): minor}),
        disengagements=handovers,
    )


@pytest.mark.parametrize(
    ("violation_s", "letter"),
    [(0.0, "A"), (100.0, "A"), (100.1, "B"), (500.0, "B"), (1000.0, "C"), (5000.0, "D"), (5001.0, "E")],
)
def test_compliance_bands(violation_s: float, letter: str) -> None:
    assert zone_grade(figures(violation_s=violation_s)).criteria[0].letter == letter


@pytest.mark.parametrize(
    ("serious", "letter"), [(0, "A"), (1, "B"), (2, "B"), (3, "C"), (10, "C"), (25, "D"), (26, "E")]
)
def test_serious_incident_bands(serious: int, letter: str) -> None:
    assert zone_grade(figures(serious=serious, minor=40)).criteria[1].letter == letter


@pytest.mark.parametrize(("handovers", "letter"), [(1, "A"), (5, "B"), (20, "C"), (50, "D"), (51, "E")])
def test_handover_bands(handovers: int, letter: str) -> None:
    assert zone_grade(figures(handovers=handovers)).criteria[2].letter == letter


def test_the_grade_is_the_worst_criterion() -> None:
    grade = zone_grade(figures(violation_s=600.0, serious=1, handovers=30))
    assert [c.letter for c in grade.criteria] == ["C", "B", "D"]
    assert grade.letter == "D"


def test_rates_over_fewer_than_100_km_are_not_rated() -> None:
    grade = zone_grade(figures(km=99.0, serious=5, handovers=9))
    assert [c.letter for c in grade.criteria] == ["A", None, None]
    assert grade.letter == "A"
    assert grade.criteria[1].note == "not rated: 99.0 km driven, fewer than 100"


def test_no_vehicle_time_and_no_distance_is_not_graded() -> None:
    assert zone_grade(GroupFigures("all", "all")).letter is None
