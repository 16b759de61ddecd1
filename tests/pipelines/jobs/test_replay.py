"""The compliance pipeline end to end: ground truth, accounting, determinism, batch = stream."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotzone.pipelines.jobs.replay import (
    ReplaySettings,
    run_replay,
)
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.zones import Zone, load_zones
from tests.factories import INCIDENT_LOG_KEYS, container_bytes
from tests.pipelines.fleets import EVERY_KIND_ZONE, every_kind_fleet
from tests.pipelines.streams import Upload, Watermark, outputs_in, run_stream

pytestmark = pytest.mark.slow

SETTINGS = ReplaySettings(progress=False)


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return load_zones([EVERY_KIND_ZONE])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, zones: list[Zone]) -> Path:
    """A small simulated fleet with every rule kind injected and a few contract defects."""
    return every_kind_fleet(zones, tmp_path_factory.mktemp("fleet") / "sim")


def _files(fleet: Path) -> list[Path]:
    return sorted((fleet / "telemetry").rglob("*.avro"))


def _replay(zones: Sequence[Zone], pattern: str, folder: Path) -> dict[str, int]:
    return run_replay(zones, pattern, outputs_in(folder), SETTINGS)


@pytest.fixture(scope="module")
def replayed(
    tmp_path_factory: pytest.TempPathFactory, zones: list[Zone], fleet: Path
) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("replay")
    counters = _replay(zones, str(fleet / "telemetry" / "**" / "*.avro"), folder)
    return folder, counters


def test_every_injected_violation_is_found_and_nothing_else(
    fleet: Path, replayed: tuple[Path, dict[str, int]]
) -> None:
    folder, _ = replayed
    truth = [row for row in read_jsonl(fleet / "ground_truth.jsonl") if row["rule_kind"] != "defect"]
    incidents = read_jsonl(folder / "incidents.jsonl")
    expected = Counter((row["vehicle_id"], row["rule_id"]) for row in truth)
    found = Counter((row["vehicle_id"], row["rule_id"]) for row in incidents)
    assert found == expected
    assert {row["kind"] for row in incidents} == {row["rule_kind"] for row in truth}


def test_incident_log_lines_have_the_documented_keys(replayed: tuple[Path, dict[str, int]]) -> None:
    folder, _ = replayed
    first = (folder / "incidents.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert list(json.loads(first)) == INCIDENT_LOG_KEYS


def test_every_record_is_decoded_or_dead_lettered(fleet: Path, replayed: tuple[Path, dict[str, int]]) -> None:
    folder, counters = replayed
    written = sum(1 for path in _files(fleet) for _ in fastavro.reader(path.open("rb")))
    dead = read_jsonl(folder / "dead-letters.jsonl")
    assert counters["records_read"] == written
    assert counters["records_decoded"] + counters["records_dead_lettered"] == written
    assert sum(row["records"] for row in dead) == counters["records_dead_lettered"]
    defects = [row for row in read_jsonl(fleet / "ground_truth.jsonl") if row["rule_kind"] == "defect"]
    assert defects, "the fleet fixture injects contract defects"
    assert {row["vehicle_id"] for row in dead} >= {
        row["vehicle_id"] for row in defects if row["detail"]["defect"] != "time_backwards"
    }


def _rewrite(fleet: Path, target: Path, seed: int, files: int) -> None:
    """The same records, shuffled and re-split into ``files`` container files."""
    records = [record for path in _files(fleet) for record in fastavro.reader(path.open("rb"))]
    random.Random(seed).shuffle(records)
    target.mkdir(parents=True)
    for index in range(files):
        (target / f"part-{index:03d}.avro").write_bytes(container_bytes(records[index::files]))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), files=st.integers(1, 40))
def test_same_incidents_whatever_the_order_and_file_split(
    tmp_path_factory: pytest.TempPathFactory,
    zones: list[Zone],
    fleet: Path,
    replayed: tuple[Path, dict[str, int]],
    seed: int,
    files: int,
) -> None:
    folder, _ = replayed
    work = tmp_path_factory.mktemp("resplit")
    _rewrite(fleet, work / "in", seed, files)
    _replay(zones, str(work / "in" / "*.avro"), work / "out")
    for name in ("incidents.jsonl", "summaries.jsonl"):
        assert (work / "out" / name).read_bytes() == (folder / name).read_bytes()


def _uploads(fleet: Path) -> list[Upload | Watermark]:
    """Each file as an upload stamped with its latest sample, in upload order, each followed
    by the watermark moving to that time."""
    events: list[tuple[int, str, bytes]] = []
    for path in _files(fleet):
        times = [r["current_location_timestamp"] for r in fastavro.reader(path.open("rb"))]
        events.append((max(int(t.timestamp() * 1000) for t in times), str(path), path.read_bytes()))
    return [
        item
        for time_ms, name, data in sorted(events)
        for item in (Upload(name, data, time_ms), Watermark(time_ms))
    ]


def test_stream_gives_the_same_incidents_and_summaries_as_the_replay(
    tmp_path: Path, zones: list[Zone], fleet: Path, replayed: tuple[Path, dict[str, int]]
) -> None:
    folder, _ = replayed
    run_stream(zones, _uploads(fleet), tmp_path, lateness_s=3600)
    for name in ("incidents.jsonl", "summaries.jsonl"):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes()


def _dead(path: Path) -> list[tuple[Any, ...]]:
    return sorted((row["reason"], row["vehicle_id"], row["sequence_number"]) for row in read_jsonl(path))
