"""What fence judging observes for the metrics: stays inside fences, exits, who is inside now.

The scenario: a fence takes effect at 0 s with 120 s to leave. Two vehicles are inside then:
one leaves at 60 s, one is still inside at the last fix (overdue). A third enters at 150 s and
leaves at 240 s; a fourth, of a class the fence does not bind, sits inside throughout.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from pilotzone.zones.fences import Fence, VehicleFences
from pilotzone.zones.fences.figures import (
    FenceFigures,
    FenceProgress,
    FenceSpan,
    FenceTerms,
    observation_from_json,
    observation_to_json,
)
from pilotzone.zones.fences.judge import FenceJudge, Fixes
from pilotzone.zones.fences.loader import load_fence
from pilotzone.zones.history import END_MS
from tests.zones.fences.fence_files import INSIDE, OUTSIDE, START_MS, write_fence

pytestmark = pytest.mark.fences

STEP_S = 10
LAST_S = 300


def place(vehicle: str, s: int) -> tuple[float, float]:
    """Where each vehicle of the scenario is ``s`` seconds after the fence takes effect."""
    if vehicle == "leaves":
        return INSIDE if s < 60 else OUTSIDE
    if vehicle == "enters":
        return INSIDE if 150 <= s < 240 else OUTSIDE
    return INSIDE


VEHICLES = {"leaves": "ROBOTAXI", "stays": "ROBOTAXI", "enters": "SHUTTLE", "robot": "DELIVERY_ROBOT"}
OPERATORS = {"leaves": "op-taxi", "stays": "op-taxi", "enters": "op-transit", "robot": "op-robots"}


def fixes(vehicle: str) -> Fixes:
    seconds = list(range(-30, LAST_S + 1, STEP_S))
    places = [place(vehicle, s) for s in seconds]
    return Fixes(
        vehicle,
        VEHICLES[vehicle],
        OPERATORS[vehicle],
        np.arange(len(seconds), dtype=np.int64),
        np.array([START_MS + s * 1000 for s in seconds], dtype=np.int64),
        np.array([p[0] for p in places], dtype=np.float64),
        np.array([p[1] for p in places], dtype=np.float64),
    )


@pytest.fixture
def fence(tmp_path: Path) -> Fence:
    return load_fence(write_fence(tmp_path))


def replay_spans(fence: Fence, vehicle: str, cuts: tuple[int, ...] = ()) -> list[FenceSpan]:
    """A vehicle's spans, fed in chunks cut at ``cuts``, up to the end of input."""
    found = fixes(vehicle)
    tracker = VehicleFences([fence], vehicle, found.vehicle_class, found.operator_id)
    spans: list[FenceSpan] = []
    for a, b in itertools.pairwise([0, *cuts, len(found.time_ms)]):
        tracker.process(found.time_ms[a:b], found.lon[a:b], found.lat[a:b])
        spans += tracker.take_spans()
    tracker.finish()
    return spans + tracker.take_spans()


def brief(spans: list[FenceSpan]) -> list[tuple[str, float, float | None, bool]]:
    """(vehicle, from, until, exited) with times in seconds after the fence takes effect."""
    return [
        (
            s.vehicle_id,
            (s.from_ms - START_MS) / 1000,
            None if s.until_ms is None else (s.until_ms - START_MS) / 1000,
            s.exited,
        )
        for s in spans
    ]


def test_each_vehicles_stays_inside_the_fence(fence: Fence) -> None:
    assert brief(replay_spans(fence, "leaves")) == [
        ("leaves", 0.0, None, False),
        ("leaves", 0.0, 60.0, True),
    ]
    assert brief(replay_spans(fence, "stays")) == [("stays", 0.0, None, False)]
    assert brief(replay_spans(fence, "enters")) == [
        ("enters", 150.0, None, False),
        ("enters", 150.0, 240.0, True),
    ]
    assert replay_spans(fence, "robot") == []
    span = replay_spans(fence, "leaves")[-1]
    assert (span.pilot_zone, span.fence_id, span.digest, span.vehicle_class, span.operator_id) == (
        "gwangju",
        "fire-1",
        fence.digest,
        "ROBOTAXI",
        "op-taxi",
    )
    assert span.exit_s == 60.0


@pytest.mark.parametrize("cuts", [(1,), (3, 4, 5), (20, 21, 30)])
def test_the_final_stays_do_not_depend_on_how_fixes_are_cut(fence: Fence, cuts: tuple[int, ...]) -> None:
    for vehicle in VEHICLES:
        whole, cut = FenceFigures(), FenceFigures()
        for span in replay_spans(fence, vehicle):
            whole.add(span)
        for span in replay_spans(fence, vehicle, cuts):
            cut.add(span)
        assert cut.spans == whole.spans


def test_a_vehicle_first_seen_outside_after_a_start_inside_left_when_it_was_first_seen(fence: Fence) -> None:
    t = np.array([START_MS - 5000, START_MS + 40_000], dtype=np.int64)
    tracker = VehicleFences([fence], "v", "ROBOTAXI", "op")
    tracker.process(t, np.array([INSIDE[0], OUTSIDE[0]]), np.array([INSIDE[1], OUTSIDE[1]]))
    assert brief(tracker.take_spans()) == [("v", 0.0, 40.0, True)]


def test_a_stay_ends_without_an_exit_when_the_fence_ends(tmp_path: Path) -> None:
    ending = load_fence(write_fence(tmp_path, until="2026-04-01T00:02:00+00:00"))
    assert brief(replay_spans(ending, "stays")) == [("stays", 0.0, None, False), ("stays", 0.0, 120.0, False)]


def scenario_figures(fence: Fence) -> FenceFigures:
    figures = FenceFigures.of([fence])
    for vehicle in VEHICLES:
        for span in replay_spans(fence, vehicle):
            figures.add(span)
    figures.add(FenceProgress(START_MS + LAST_S * 1000))
    return figures


def test_figures_at_the_last_fix_and_before(fence: Fence) -> None:
    figures = scenario_figures(fence)
    taxi, shuttle = (
        ("gwangju", "fire-1", "op-taxi", "ROBOTAXI"),
        ("gwangju", "fire-1", "op-transit", "SHUTTLE"),
    )
    assert figures.reached_ms == START_MS + 300_000
    assert figures.inside(figures.reached_ms) == {taxi: 1, shuttle: 0}
    assert figures.inside(START_MS - 1) == {taxi: 0, shuttle: 0}
    assert figures.inside(START_MS) == {taxi: 2, shuttle: 0}
    assert figures.inside(START_MS + 200_000) == {taxi: 1, shuttle: 1}
    assert figures.inside(None) == {taxi: 0, shuttle: 0}
    assert figures.in_force(figures.reached_ms) == {"gwangju": 1}
    assert figures.in_force(START_MS - 1) == {"gwangju": 0}
    assert figures.exits() == {taxi: [60.0], shuttle: [90.0]}
    assert figures.exits(before_ms=START_MS + 240_000) == {taxi: [60.0], shuttle: []}


def test_an_open_stay_never_replaces_the_closed_one(fence: Fence) -> None:
    spans = replay_spans(fence, "leaves")
    figures = FenceFigures()
    for span in reversed(spans):
        figures.add(span)
    assert list(figures.spans.values()) == [spans[-1]]


def test_observations_survive_json(fence: Fence) -> None:
    observations = [*replay_spans(fence, "enters"), FenceProgress(5), FenceTerms.of(fence)]
    assert [observation_from_json(observation_to_json(o)) for o in observations] == observations


def test_the_stream_judge_observes_what_the_replay_does(fence: Fence) -> None:
    """Fixes judged in watermark steps by one ``FenceJudge`` give the replay's figures."""
    judge = FenceJudge([fence])
    streamed = FenceFigures.of([fence])
    for step in range(0, 40, 7):
        for vehicle in VEHICLES:
            found = fixes(vehicle)
            judge.judge(found.take(np.arange(step, min(step + 7, len(found.time_ms)))))
        for observation in judge.observations():
            streamed.add(observation)
    judge.finish()
    for observation in judge.observations():
        streamed.add(observation)
    assert streamed == scenario_figures(fence)


def test_an_amendment_cuts_the_version_it_replaces_whatever_the_order_terms_arrive_in() -> None:
    first = FenceTerms("gwangju", "fire-1", "sha256:1", 0, END_MS)
    first_cut = FenceTerms("gwangju", "fire-1", "sha256:1", 0, 60_000)
    amended = FenceTerms("gwangju", "fire-1", "sha256:2", 60_000, END_MS)
    for order in ([first, first_cut, amended], [amended, first_cut, first], [first_cut, first, amended]):
        figures = FenceFigures()
        for terms in order:
            figures.add(terms)
        assert figures.fences["sha256:1"] == first_cut
        assert [figures.in_force(at) for at in (0, 59_999, 60_000)] == [{"gwangju": 1}] * 3
