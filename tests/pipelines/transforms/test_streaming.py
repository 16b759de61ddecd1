"""Streaming semantics with TestStream: order, lateness, duplicates, watermark-driven gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pilotzone.pipelines.jobs.replay import ReplaySettings, run_replay
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.zones import Zone, load_zones
from tests.factories import T0_MS, container_bytes, sample
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.streams import Upload, Watermark, outputs_in, run_stream

pytestmark = pytest.mark.slow

LATENESS_S = 30.0


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return load_zones([EVERY_KIND_ZONE])


def drive(
    vehicle_id: str, seconds: range, lat: float, speed_at: Any = lambda s: 30.0
) -> list[dict[str, Any]]:
    """A compliant robotaxi driving east along a line of latitude, one fix per second."""
    return [
        sample(
            vehicle_id=vehicle_id,
            operator_id="op-taxi",
            sequence_number=s,
            current_location_timestamp=T0_MS + 1000 * s,
            current_location_latitude=lat,
            current_location_longitude=126.835 + s * 0.0000885,
            speed=speed_at(s),
        )
        for s in seconds
    ]


def uploads(records: list[dict[str, Any]], name: str, every_s: int = 10) -> list[Upload]:
    """The records as files of ``every_s`` seconds, each stamped with its latest sample."""
    by_slice: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        by_slice.setdefault((record["current_location_timestamp"] - T0_MS) // (every_s * 1000), []).append(
            record
        )
    return [
        Upload(
            f"{name}-{index:03d}.avro",
            container_bytes(part),
            max(r["current_location_timestamp"] for r in part),
        )
        for index, part in sorted(by_slice.items())
    ]


# Vehicle A goes silent after 60 s; B drives 120 s and speeds (80 km/h) from 20 s to 39 s.
A = drive("veh-a", range(60), 35.170)
B = drive("veh-b", range(120), 35.172, speed_at=lambda s: 80.0 if 20 <= s < 40 else 30.0)


def in_time_order(*groups: list[Upload]) -> list[Upload | Watermark]:
    merged = sorted((u for group in groups for u in group), key=lambda u: (u.time_ms, u.name))
    return [item for upload in merged for item in (upload, Watermark(upload.time_ms))]


def _log(folder: Path) -> list[tuple[Any, ...]]:
    return [
        (row["vehicle_id"], row["rule_id"], row["start_time"], row["end_time"], row["peak_value"])
        for row in read_jsonl(folder / "incidents.jsonl")
    ]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, zones: list[Zone]) -> Path:
    return replay_of(uploads(A, "a") + uploads(B, "b"), tmp_path_factory.mktemp("replay"), zones)


def replay_of(files: list[Upload], folder: Path, zones: list[Zone]) -> Path:
    """Replay ``files`` stored in ``folder``; the folder holding the replay's outputs."""
    (folder / "in").mkdir()
    for upload in files:
        (folder / "in" / upload.name).write_bytes(upload.data)
    run_replay(
        zones,
        str(folder / "in" / "*.avro"),
        outputs_in(folder / "out"),
        ReplaySettings(progress=False),
    )
    return folder / "out"


def test_replay_finds_the_silent_vehicle_and_the_closed_speeding(replayed: Path) -> None:
    assert _log(replayed) == [
        ("veh-b", "speed-zone", "2026-11-23T01:00:20.000Z", "2026-11-23T01:00:40.000Z", 30.0),
        ("veh-a", "gap", "2026-11-23T01:00:59.000Z", None, None),
    ]


def test_watermark_opens_the_gap_of_a_vehicle_that_never_sends_again(
    tmp_path: Path, zones: list[Zone], replayed: Path
) -> None:
    run_stream(zones, in_time_order(uploads(A, "a"), uploads(B, "b")), tmp_path, LATENESS_S)
    assert _log(tmp_path) == _log(replayed)
    assert (tmp_path / "summaries.jsonl").read_bytes() == (replayed / "summaries.jsonl").read_bytes()


def test_no_gap_when_the_input_ends_before_the_gap_is_long_enough(tmp_path: Path, zones: list[Zone]) -> None:
    # Only A: its data ends at 59 s and nothing shows time moving on, so no gap is observed.
    run_stream(zones, in_time_order(uploads(A, "a")), tmp_path, LATENESS_S)
    assert _log(tmp_path) == []


def test_out_of_order_uploads_within_the_allowed_lateness_change_nothing(
    tmp_path: Path, zones: list[Zone], replayed: Path
) -> None:
    ordered = sorted(uploads(A, "a") + uploads(B, "b"), key=lambda u: (u.time_ms, u.name))
    # Swap neighbours: each pair arrives newest first; the watermark trails the older one.
    events: list[Upload | Watermark] = []
    for first, second in zip(ordered[0::2], ordered[1::2], strict=False):
        events += [second, first, Watermark(first.time_ms)]
    if len(ordered) % 2:
        events += [ordered[-1], Watermark(ordered[-1].time_ms)]
    run_stream(zones, events, tmp_path, LATENESS_S)
    assert _log(tmp_path) == _log(replayed)
    assert (tmp_path / "summaries.jsonl").read_bytes() == (replayed / "summaries.jsonl").read_bytes()


@pytest.mark.parametrize(("shards", "tick_s"), [(1, 7.0), (64, 0.0)])
def test_one_shard_for_all_or_one_per_vehicle_and_any_tick_give_the_replay(
    tmp_path: Path, zones: list[Zone], replayed: Path, shards: int, tick_s: float
) -> None:
    # Both vehicles in one shard, evaluated on 7-second ticks; or each in its own shard with a
    # firing at every evaluation point: the same incidents and summaries as the replay.
    run_stream(
        zones,
        in_time_order(uploads(A, "a"), uploads(B, "b")),
        tmp_path,
        LATENESS_S,
        shards=shards,
        tick_s=tick_s,
    )
    assert _log(tmp_path) == _log(replayed)
    assert (tmp_path / "summaries.jsonl").read_bytes() == (replayed / "summaries.jsonl").read_bytes()


def test_duplicates_are_dead_lettered_and_change_nothing(
    tmp_path: Path, zones: list[Zone], replayed: Path
) -> None:
    events = in_time_order(uploads(A, "a"), uploads(B, "b"))
    repeat = next(e for e in events if isinstance(e, Upload) and e.name == "b-002.avro")
    events.insert(events.index(repeat) + 2, Upload("b-002-again.avro", repeat.data, repeat.time_ms))
    run_stream(zones, events, tmp_path, LATENESS_S)
    assert _log(tmp_path) == _log(replayed)
    dead = read_jsonl(tmp_path / "dead-letters.jsonl")
    assert sorted((d["reason"], d["sequence_number"]) for d in dead) == [
        ("duplicate", s) for s in range(20, 30)
    ]


def test_samples_behind_the_vehicles_evaluation_are_dead_lettered_as_late(
    tmp_path: Path, zones: list[Zone], replayed: Path
) -> None:
    # B's slice 80-89 s arrives after the watermark passed it plus the allowed lateness:
    # B has been evaluated beyond it, so its samples are late and B shows an 11 s gap.
    events = in_time_order(uploads(A, "a"), [u for u in uploads(B, "b") if u.name != "b-008.avro"])
    events += [Watermark(T0_MS + 200_000), next(u for u in uploads(B, "b") if u.name == "b-008.avro")]
    run_stream(zones, events, tmp_path, LATENESS_S)
    assert _log(tmp_path) == [
        *_log(replayed),
        ("veh-b", "gap", "2026-11-23T01:01:19.000Z", "2026-11-23T01:01:30.000Z", 11.0),
    ]
    dead = read_jsonl(tmp_path / "dead-letters.jsonl")
    assert sorted((d["reason"], d["vehicle_id"], d["sequence_number"]) for d in dead) == [
        ("late", "veh-b", s) for s in range(80, 90)
    ]


def test_a_vehicle_first_seen_late_is_evaluated_not_dropped(tmp_path: Path, zones: list[Zone]) -> None:
    # Nothing has been evaluated for C, so nothing emitted depends on its samples' absence:
    # they are evaluated in order, exactly as a replay of the same files would.
    late = drive("veh-c", range(10), 35.168, speed_at=lambda s: 90.0)
    events = in_time_order(uploads(A, "a"), uploads(B, "b"))
    events += [Watermark(T0_MS + 200_000), *uploads(late, "c")]
    run_stream(zones, events, tmp_path, LATENESS_S)
    (tmp_path / "replay").mkdir()
    replayed = replay_of(uploads(A, "a") + uploads(B, "b") + uploads(late, "c"), tmp_path / "replay", zones)
    assert ("veh-c", "speed-zone", "2026-11-23T01:00:00.000Z", None, 40.0) in _log(tmp_path)
    assert _log(tmp_path) == _log(replayed)
    assert read_jsonl(tmp_path / "dead-letters.jsonl") == []
