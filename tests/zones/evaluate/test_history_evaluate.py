"""Judging by the config version in force at each sample's event time (``zones.evaluate.epochs``).

The history here is the evaluation test zone twice, identical apart from dates, changing
60 s after T0: whatever differs from judging by the single config is then the change itself.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone, load_zones
from pilotzone.zones.evaluate import (
    EvaluationOutput,
    HistoryEvaluator,
    IncidentRecord,
    VehicleEvaluator,
    WindowSummary,
    assign_zones,
    vehicle_evaluator,
)
from pilotzone.zones.evaluate.summaries import SummaryKey
from tests.factories import T0_MS
from tests.zones.evaluate.test_evaluate import HERE, SECOND, fix, numbered

pytestmark = pytest.mark.fences

CHANGE_MS = T0_MS + 60 * SECOND
"""2026-11-23T10:01:00+09:00, when the second version takes effect."""

END = 2**61


def write_history(folder: Path, first_from: str = "2026-01-01T00:00:00+09:00") -> list[Zone]:
    """The test zone as two versions changing at ``CHANGE_MS``, plus its undated neighbour."""
    text = (HERE / "test-zone.yaml").read_text(encoding="utf-8")
    history = folder / "evaltest"
    history.mkdir(parents=True, exist_ok=True)
    (history / "1.yaml").write_text(
        f"{text}effective_from: {first_from}\nuntil: 2026-11-23T10:01:00+09:00\n", encoding="utf-8"
    )
    (history / "2.yaml").write_text(f"{text}effective_from: 2026-11-23T10:01:00+09:00\n", encoding="utf-8")
    return load_zones([history, HERE / "neighbour-zone.yaml"])


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Zone]:
    return write_history(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def single() -> list[Zone]:
    return load_zones([HERE / "test-zone.yaml", HERE / "neighbour-zone.yaml"])


def evaluate(
    zones: Sequence[Zone], records: Sequence[dict[str, Any]], cuts: Sequence[int] = ()
) -> tuple[list[IncidentRecord], list[WindowSummary], list[int]]:
    """Records, summaries and unplaced rows of one vehicle, fed in chunks cut at ``cuts`` with an
    ``advance`` to each chunk's last time between them, then ended as a replay ends."""
    batch = TelemetryBatch.from_records(list(records))
    zoned = assign_zones(zones, batch)
    evaluator = vehicle_evaluator(zones, "veh-1")
    outputs: list[EvaluationOutput] = []
    unplaced: list[int] = []
    edges = [0, *cuts, len(batch)]
    for start, stop in itertools.pairwise(edges):
        output = evaluator.process(zoned.take(np.arange(start, stop)))
        unplaced.extend((output.unplaced + start).tolist())
        outputs.append(output)
        outputs.append(evaluator.advance(int(batch.time_ms[stop - 1])))
    outputs += [evaluator.advance(END), evaluator.finish()]
    incidents = [i for o in outputs for i in o.incidents]
    summaries = [s for o in outputs for s in o.summaries]
    return incidents, summaries, unplaced


def lifecycle(incidents: Sequence[IncidentRecord]) -> list[tuple[Any, ...]]:
    return [
        (i.status, i.rule_id, i.start_ms - T0_MS, i.end_ms and i.end_ms - T0_MS, i.peak_value)
        for i in incidents
    ]


def speeding_in_district(seconds: Iterable[int], speed: float = 60.0) -> list[dict[str, Any]]:
    """Fixes every 2 s driving east in the district (40 km/h limit) at ``speed``."""
    return numbered(fix(s, -3000 + s * 10, 1000, speed=speed) for s in seconds)


def test_history_without_changes_is_the_plain_evaluator(single: list[Zone]) -> None:
    assert type(vehicle_evaluator(single, "veh-1")) is VehicleEvaluator


def test_an_incident_open_at_the_change_closes_there_and_reopens_under_the_new_version(
    history: list[Zone], single: list[Zone]
) -> None:
    track = speeding_in_district(range(0, 120, 2))
    old, new = history[0].version, history[1].version
    incidents, _, _ = evaluate(history, track)
    assert [(*row, i.config_version) for row, i in zip(lifecycle(incidents), incidents, strict=True)] == [
        ("OPENED", "district-speed", 0, None, 20.0, old),
        ("CLOSED", "district-speed", 0, 60_000, 20.0, old),
        ("OPENED", "district-speed", 60_000, None, 20.0, new),
        ("OPENED", "gap", 118_000, None, None, new),  # the end of input is silence
        ("UPDATED", "district-speed", 60_000, None, 20.0, new),
    ]
    plain, _, _ = evaluate(single, track)
    assert lifecycle(plain) == [
        ("OPENED", "district-speed", 0, None, 20.0),
        ("OPENED", "gap", 118_000, None, None),
        ("UPDATED", "district-speed", 0, None, 20.0),
    ]


def test_away_from_the_change_the_history_gives_the_single_configs_incidents(
    history: list[Zone], single: list[Zone]
) -> None:
    # Two bursts of speeding, one under each version, neither open at the change.
    track = numbered(
        fix(s, -3000 + s * 10, 1000, speed=60.0 if s < 30 or 80 <= s < 110 else 30.0)
        for s in range(0, 120, 2)
    )
    incidents, _, _ = evaluate(history, track)
    plain, _, _ = evaluate(single, track)
    assert (
        lifecycle(incidents)
        == lifecycle(plain)
        == [
            ("OPENED", "district-speed", 0, None, 20.0),
            ("CLOSED", "district-speed", 0, 30_000, 20.0),
            ("OPENED", "district-speed", 80_000, None, 20.0),
            ("CLOSED", "district-speed", 80_000, 110_000, 20.0),
            ("OPENED", "gap", 118_000, None, None),
        ]
    )
    assert [i.config_version for i in incidents] == [history[0].version] * 2 + [history[1].version] * 3


def test_records_do_not_depend_on_chunks_or_watermarks(history: list[Zone]) -> None:
    """What a stream feeds in pieces with watermarks between them, a replay feeds at once."""
    track = numbered(
        fix(s, -3000 + s * 10, 1000, speed=60.0 if 40 <= s < 90 else 30.0)
        for s in [*range(0, 50, 2), *range(75, 120, 2)]
    )
    whole = evaluate(history, track)
    for cuts in ([1], [24, 25], [10, 25, 26, 40], list(range(1, len(track)))):
        pieces = evaluate(history, track, cuts)
        assert pieces[0] == whole[0]
        assert merged(pieces[1]) == merged(whole[1])
    # Replayed twice: the same records.
    assert evaluate(history, track) == whole


def merged(summaries: Sequence[WindowSummary]) -> dict[SummaryKey, WindowSummary]:
    by_key: dict[SummaryKey, WindowSummary] = {}
    for summary in summaries:
        by_key[summary.key] = by_key[summary.key].merge(summary) if summary.key in by_key else summary
    return by_key


def test_a_gap_across_the_change_belongs_to_the_version_it_began_under(
    history: list[Zone], single: list[Zone]
) -> None:
    # Silent from 40 s to 90 s: the gap rule (10 s) opened under the first version.
    track = numbered(fix(s, -3000, 1000, speed=10.0) for s in [*range(30, 42, 2), *range(90, 100, 2)])
    incidents, _, _ = evaluate(history, track)
    assert [(*row, i.config_version) for row, i in zip(lifecycle(incidents), incidents, strict=True)] == [
        ("OPENED", "gap", 40_000, None, None, history[0].version),
        ("CLOSED", "gap", 40_000, 90_000, 50.0, history[0].version),
        ("OPENED", "gap", 98_000, None, None, history[1].version),
    ]
    assert lifecycle(incidents) == lifecycle(evaluate(single, track)[0])
    # Silent from 56 s to 70 s: only 4 s of it before the change, yet a gap of the first version.
    track = numbered(fix(s, -3000, 1000, speed=10.0) for s in [*range(30, 58, 2), *range(70, 80, 2)])
    incidents, _, _ = evaluate(history, track)
    assert [(*row, i.config_version) for row, i in zip(lifecycle(incidents), incidents, strict=True)] == [
        ("OPENED", "gap", 56_000, None, None, history[0].version),
        ("CLOSED", "gap", 56_000, 70_000, 14.0, history[0].version),
        ("OPENED", "gap", 78_000, None, None, history[1].version),
    ]
    assert lifecycle(incidents) == lifecycle(evaluate(single, track)[0])


def test_a_gap_ends_an_incident_open_at_the_change_where_a_gap_ends_it(
    history: list[Zone], single: list[Zone]
) -> None:
    track = speeding_in_district([*range(0, 56, 2), *range(70, 80, 2)])
    incidents, _, _ = evaluate(history, track)
    expected = [
        ("OPENED", "district-speed", 0, None, 20.0),
        ("OPENED", "gap", 54_000, None, None),
        ("CLOSED", "gap", 54_000, 70_000, 16.0),
        ("CLOSED", "district-speed", 0, 54_000, 20.0),
        ("OPENED", "district-speed", 70_000, None, 20.0),
        ("OPENED", "gap", 78_000, None, None),
        ("UPDATED", "district-speed", 70_000, None, 20.0),
    ]
    assert lifecycle(incidents) == expected
    # The same records as the single config (which emits them in another order within a chunk).
    assert sorted(lifecycle(evaluate(single, track)[0]), key=repr) == sorted(expected, key=repr)


def test_samples_before_the_first_version_are_in_no_zone(tmp_path: Path) -> None:
    zones = write_history(tmp_path, first_from="2026-11-23T10:00:30+09:00")[:2]
    track = speeding_in_district(range(0, 40, 2))
    incidents, _, unplaced = evaluate(zones, track)
    # The zone exists from 30 s on; before that the vehicle is in no zone at all.
    assert unplaced == list(range(15))
    assert lifecycle(incidents) == [
        ("OPENED", "district-speed", 30_000, None, 20.0),
        ("OPENED", "gap", 38_000, None, None),
        ("UPDATED", "district-speed", 30_000, None, 20.0),
    ]


def test_window_summaries_name_the_version_that_judged_their_samples(
    history: list[Zone], single: list[Zone]
) -> None:
    track = speeding_in_district(range(0, 120, 2))
    _, summaries, _ = evaluate(history, track)
    _, plain, _ = evaluate(single, track)
    by_window, plain_by_window = merged(summaries), merged(plain)
    assert sorted(without_version(by_window)) == sorted(without_version(plain_by_window))
    evaltest = sorted((key for key in by_window if key[0] == "evaltest"), key=lambda key: key[4])
    assert [(key[1], key[4] - T0_MS) for key in evaltest] == [
        (history[0].version, 0),
        (history[1].version, 60_000),
    ]
    # The 2 s between the last fix before the change and the first after it is counted by neither.
    plain_evaltest = sorted((key for key in plain_by_window if key[0] == "evaltest"), key=lambda key: key[4])
    assert [by_window[key].vehicle_seconds for key in evaltest] == [58.0, 58.0]
    assert [plain_by_window[key].vehicle_seconds for key in plain_evaltest] == [58.0, 60.0]
    # The incident open at the change is counted up to the change, then from the new opening.
    assert [by_window[key].violation_s_by_rule for key in evaltest] == [
        {"district-speed": 60.0},
        {"district-speed": 58.0},
    ]


def without_version(summaries: dict[SummaryKey, WindowSummary]) -> list[tuple[str, str, str, int]]:
    return [(zone, operator, cls, start) for zone, _, operator, cls, start in summaries]


def test_a_window_cut_by_the_change_has_a_summary_per_version_that_add_up(tmp_path: Path) -> None:
    """The change 30 s into a minute: the minute's samples split by the version that judged
    them, the vehicle counted once (under the first version), and any chunking gives the same."""
    text = (HERE / "test-zone.yaml").read_text(encoding="utf-8")
    (tmp_path / "1.yaml").write_text(f"{text}until: 2026-11-23T10:00:30+09:00\n", encoding="utf-8")
    (tmp_path / "2.yaml").write_text(f"{text}effective_from: 2026-11-23T10:00:30+09:00\n", encoding="utf-8")
    zones = load_zones([tmp_path / "1.yaml", tmp_path / "2.yaml"])
    old, new = (zone.version for zone in zones)
    track = speeding_in_district(range(0, 120, 2))
    _, summaries, _ = evaluate(zones, track)
    by_key = merged(summaries)
    assert [
        (key[1], key[4] - T0_MS, s.samples, len(s.vehicle_ids), s.vehicle_seconds, s.violation_s_by_rule)
        for key, s in sorted(by_key.items(), key=lambda item: (item[0][4], item[0][1] != old))
    ] == [
        (old, 0, 15, 1, 28.0, {"district-speed": 30.0}),
        (new, 0, 15, 0, 28.0, {"district-speed": 30.0}),
        (new, 60_000, 30, 1, 60.0, {"district-speed": 58.0}),
    ]
    for cuts in ([14], [15], [16], [10, 15, 20], list(range(1, len(track)))):
        assert merged(evaluate(zones, track, cuts)[1]) == by_key


def test_history_evaluator_survives_pickling_without_its_zones(history: list[Zone]) -> None:
    track = speeding_in_district(range(0, 120, 2))
    batch = TelemetryBatch.from_records(track)
    zoned = assign_zones(history, batch)
    evaluator = vehicle_evaluator(history, "veh-1")
    assert isinstance(evaluator, HistoryEvaluator)
    first = evaluator.process(zoned.take(np.arange(0, 20)))
    evaluator.zones = []
    restored = pickle.loads(pickle.dumps(evaluator))
    restored.zones = history
    rest = [restored.process(zoned.take(np.arange(20, len(track)))), restored.advance(END), restored.finish()]
    incidents = first.incidents + [i for o in rest for i in o.incidents]
    assert incidents == evaluate(history, track)[0]
