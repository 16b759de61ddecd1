"""Versions of a fence: a later effective_from supersedes, the same document is one version, two
versions from one moment are refused; a stream learning of an amendment gives the replay's records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pilotzone.zones.evaluate.records import IncidentRecord
from pilotzone.zones.fences.judge import FenceJudge, Fixes
from pilotzone.zones.fences.loader import load_fence, load_fence_message, load_fences
from pilotzone.zones.fences.tracker import VehicleFences
from pilotzone.zones.history import END_MS
from pilotzone.zones.problems import ZoneConfigError
from tests.zones.fences.fence_files import INSIDE, OUTSIDE, START_MS, write_fence

pytestmark = pytest.mark.fences

AMENDED_FROM = "2026-04-01T00:05:00+00:00"
AMENDED_MS = START_MS + 300_000


def versions(folder: Path) -> tuple[Path, Path]:
    """The first version (exit within 120 s) and an amendment five minutes later (60 s)."""
    first = write_fence(folder, "fire-1.yaml", exit_within_s=120)
    amended = write_fence(
        folder, "fire-1-amended.yaml", exit_within_s=60, effective_from=AMENDED_FROM, reason="fire spreads"
    )
    return first, amended


def test_a_later_version_ends_the_earlier_one_at_its_start(tmp_path: Path) -> None:
    first, amended = versions(tmp_path)
    loaded = load_fences([tmp_path])
    by_source = {fence.source: fence for fence in loaded}
    assert [(f.start_ms, f.end_ms, f.superseded_ms) for f in (by_source[first], by_source[amended])] == [
        (START_MS, AMENDED_MS, AMENDED_MS),
        (AMENDED_MS, END_MS, None),
    ]
    assert by_source[first].digest == load_fence(first).digest


def test_the_same_document_twice_is_one_version(tmp_path: Path) -> None:
    write_fence(tmp_path, "a.yaml")
    write_fence(tmp_path, "b.yaml")
    (fence,) = load_fences([tmp_path])
    assert (fence.source.name, fence.end_ms) == ("a.yaml", END_MS)


def test_two_versions_from_one_moment_are_refused(tmp_path: Path) -> None:
    first = write_fence(tmp_path, "a.yaml")
    write_fence(tmp_path, "b.yaml", reason="flood")
    with pytest.raises(ZoneConfigError) as caught:
        load_fences([tmp_path])
    (problem,) = caught.value.problems
    digest_a, digest_b = load_fence(first).digest, load_fence(tmp_path / "b.yaml").digest
    assert (Path(problem.file).name, problem.location) == ("b.yaml", "effective_from")
    assert problem.message == (
        f"fence 'fire-1' ({digest_b}) and {digest_a} from {first} both take effect at "
        "2026-04-01T00:00:00.000Z: an amendment needs a later effective_from than the version it replaces "
        "(or republish the same document)"
    )


def fixes(seconds: list[float], places: list[tuple[float, float]]) -> Fixes:
    return Fixes(
        "v-1",
        "ROBOTAXI",
        "op-1",
        np.arange(len(seconds), dtype=np.int64),
        np.array([START_MS + round(s * 1000) for s in seconds], dtype=np.int64),
        np.array([p[0] for p in places]),
        np.array([p[1] for p in places]),
    )


def in_order(records: list[IncidentRecord]) -> list[IncidentRecord]:
    """By start, then OPENED before CLOSED (a tracker gives them fence by fence)."""
    return sorted(records, key=lambda record: (record.start_ms, record.status != "OPENED"))


# Inside from before the fence until 6m10s, out at 6m40s.
DRIVE = fixes([-5, 60, 130, 200, 290, 310, 350, 370, 400], [INSIDE] * 8 + [OUTSIDE])


def test_an_incident_of_the_earlier_version_closes_where_the_amendment_starts(tmp_path: Path) -> None:
    versions(tmp_path)
    loaded = load_fences([tmp_path])
    tracker = VehicleFences(loaded, "v-1", "ROBOTAXI", "op-1")
    records = in_order(tracker.process(DRIVE.time_ms, DRIVE.lon, DRIVE.lat) + tracker.finish())
    first, amended = sorted(loaded, key=lambda fence: fence.start_ms)
    assert [(r.status, r.start_ms - START_MS, r.end_ms, r.peak_value, r.config_version) for r in records] == [
        ("OPENED", 120_000, None, 10.0, first.digest),
        ("CLOSED", 120_000, AMENDED_MS, 170.0, first.digest),
        # The amendment's own deadline: 60 s from its start.
        ("OPENED", 360_000, None, 10.0, amended.digest),
        ("CLOSED", 360_000, START_MS + 400_000, 10.0, amended.digest),
    ]


def test_an_amendment_received_while_judging_gives_the_replays_records(tmp_path: Path) -> None:
    first_file, amended_file = versions(tmp_path)
    judge = FenceJudge([load_fence(first_file)])
    before, after = DRIVE.take(np.arange(5)), DRIVE.take(np.arange(5, 9))
    streamed, late = judge.judge(before)
    assert late == 0
    assert judge.add_fence(load_fence(amended_file)) is None
    assert judge.add_fence(load_fence(amended_file)) is None  # republished: nothing new
    assert len(judge.fences) == 2
    more, late = judge.judge(after)
    assert late == 0
    streamed += more + judge.finish()
    replay = VehicleFences(load_fences([tmp_path]), "v-1", "ROBOTAXI", "op-1")
    assert in_order(streamed) == in_order(
        replay.process(DRIVE.time_ms, DRIVE.lon, DRIVE.lat) + replay.finish()
    )
    assert len(streamed) == 4


def test_a_stream_refuses_a_second_version_from_the_same_moment(tmp_path: Path) -> None:
    kept = load_fence(write_fence(tmp_path, "a.yaml"))
    other = load_fence(write_fence(tmp_path, "b.yaml", reason="flood"))
    judge = FenceJudge([kept])
    assert judge.add_fence(other) == (
        f"fence 'fire-1' ({other.digest}) and {kept.digest} from {kept.source} both take effect at "
        "2026-04-01T00:00:00.000Z: an amendment needs a later effective_from than the version it replaces "
        "(or republish the same document)"
    )
    assert judge.fences == [kept]


def test_a_fence_message_loads_as_its_file_does_and_must_carry_its_polygon(tmp_path: Path) -> None:
    path = write_fence(tmp_path)
    fence = load_fence_message(path.read_bytes(), "fences@0:7")
    assert (fence.digest, fence.source) == (load_fence(path).digest, Path("fences@0:7"))
    with pytest.raises(ZoneConfigError) as caught:
        load_fence_message(write_fence(tmp_path, "f.yaml", polygon="file:fire.geojson").read_bytes(), "m")
    assert [(p.file, p.location, p.message) for p in caught.value.problems] == [
        (
            "m",
            "polygon",
            "a fence message carries its polygon inline: publish it with `pilotzone fences publish`",
        )
    ]
    with pytest.raises(ZoneConfigError) as caught:
        load_fence_message(b"\xff", "m")
    assert [(p.file, p.message) for p in caught.value.problems] == [
        ("m", "not UTF-8 text: publish the fence as UTF-8")
    ]
