"""Grouping on disk: a spilled replay writes exactly what the in-memory replay writes."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from pathlib import Path

import fastavro
import pytest

from pilotzone.pipelines.jobs import replay
from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings, run_replay, spill_buckets
from pilotzone.pipelines.transforms.spill import read_spill_file, vehicle_bucket
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones import Zone, load_zones
from tests.factories import container_bytes, track
from tests.pipelines.fleets import EVERY_KIND_ZONE, every_kind_fleet

OUTPUT_FILES = ("incidents.jsonl", "summaries.jsonl", "dead-letters.jsonl")


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return load_zones([EVERY_KIND_ZONE])


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory, zones: list[Zone]) -> Path:
    """Every rule kind and contract defects, plus what makes grouping hard: files mixing
    vehicles in shuffled order, a file uploaded twice (duplicates) and a corrupt file."""
    fleet = every_kind_fleet(zones, tmp_path_factory.mktemp("fleet") / "sim", vehicles=16)
    folder = tmp_path_factory.mktemp("telemetry")
    files = sorted((fleet / "telemetry").rglob("*.avro"))
    for index, path in enumerate(files[: len(files) // 2]):
        shutil.copy(path, folder / f"own-{index:04d}.avro")
    mixed = [record for path in files[len(files) // 2 :] for record in fastavro.reader(path.open("rb"))]
    random.Random(5).shuffle(mixed)
    for index in range(7):
        (folder / f"mixed-{index}.avro").write_bytes(container_bytes(mixed[index::7], sync_interval=2000))
    shutil.copy(folder / "own-0003.avro", folder / "own-0003-again.avro")
    (folder / "broken.avro").write_bytes(container_bytes(track(50))[:-40])
    return folder


def _replay(zones: list[Zone], telemetry: Path, out: Path, buckets: int) -> dict[str, int]:
    outputs = ReplayOutputs(
        incidents_jsonl=out / "incidents.jsonl",
        incidents_avro=out / "incidents.avro",
        dead_letter_jsonl=out / "dead-letters.jsonl",
        summaries_jsonl=out / "summaries.jsonl",
    )
    settings = ReplaySettings(progress=False, spill_buckets=buckets, spill_dir=str(out.parent))
    return run_replay(zones, str(telemetry / "*.avro"), outputs, settings)


def _avro_records(path: Path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in fastavro.reader(path.open("rb")))


@pytest.fixture(scope="module")
def in_memory(
    tmp_path_factory: pytest.TempPathFactory, zones: list[Zone], telemetry: Path
) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("memory") / "out"
    return out, _replay(zones, telemetry, out, buckets=1)


@pytest.mark.slow
@pytest.mark.parametrize("buckets", [2, 7])
def test_spilled_replay_writes_the_same_bytes_and_counts(
    tmp_path: Path, zones: list[Zone], telemetry: Path, in_memory: tuple[Path, dict[str, int]], buckets: int
) -> None:
    reference, reference_counters = in_memory
    counters = _replay(zones, telemetry, tmp_path / "out", buckets)
    for name in OUTPUT_FILES:
        assert (tmp_path / "out" / name).read_bytes() == (reference / name).read_bytes(), name
    assert _avro_records(tmp_path / "out" / "incidents.avro") == _avro_records(reference / "incidents.avro")
    volatile = {"delay_ms_sum", "delay_bucket_10"}  # processing time, not data
    assert {k: v for k, v in counters.items() if k not in volatile} == {
        k: v for k, v in reference_counters.items() if k not in volatile
    }
    reasons = {json.loads(line)["reason"] for line in (reference / "dead-letters.jsonl").open()}
    assert {"duplicate", "truncated"} <= reasons, "the fixture exercises duplicates and corrupt files"
    assert not list(tmp_path.glob("pilotzone-spill-*")), "the spill directory is removed"


def test_spill_files_hold_each_chunk_as_written() -> None:
    from pilotzone.pipelines.transforms.spill import SpillFn, SpillPlan

    chunks = [
        ("veh-a", TelemetryBatch.from_records(track(3, vehicle_id="veh-a"))),
        ("veh-b", TelemetryBatch.from_records(track(2, vehicle_id="veh-b"))),
        ("veh-a", TelemetryBatch.from_records(track(4, vehicle_id="veh-a"))),
    ]
    with tempfile.TemporaryDirectory() as directory:
        spill = SpillFn(SpillPlan(directory, buckets=1))
        spill.start_bundle()
        for chunk in chunks:
            spill.process(chunk)
        ((bucket, path),) = [window.value for window in spill.finish_bundle()]
        back = list(read_spill_file(path))
    assert bucket == 0
    assert [(v, len(b)) for v, b in back] == [("veh-a", 3), ("veh-b", 2), ("veh-a", 4)]


def test_vehicle_buckets_are_stable_and_spread() -> None:
    assert vehicle_bucket("veh-000bedd67c", 16) == vehicle_bucket("veh-000bedd67c", 16)
    spread = {vehicle_bucket(f"veh-{i:05d}", 8) for i in range(200)}
    assert spread == set(range(8))


def test_bucket_count_follows_the_input_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(5):
        (tmp_path / f"f{index}.avro").write_bytes(b"x" * 1000)
    pattern = str(tmp_path / "*.avro")
    monkeypatch.setattr(replay, "SPILL_INPUT_BYTES", 4999)
    monkeypatch.setattr(replay, "SPILL_BUCKET_INPUT_BYTES", 2000)
    assert spill_buckets(pattern, ReplaySettings()) == 3
    assert spill_buckets(pattern, ReplaySettings(spill_buckets=1)) == 1
    # Each worker process holds a bucket at once: buckets shrink with the workers.
    assert spill_buckets(pattern, ReplaySettings(runner="direct-multiprocess", workers=2)) == 6
    assert spill_buckets(pattern, ReplaySettings(runner="direct", workers=2)) == 3
    monkeypatch.setattr(replay, "SPILL_INPUT_BYTES", 5000)
    assert spill_buckets(pattern, ReplaySettings()) == 1
    assert spill_buckets(pattern, ReplaySettings(runner="direct-multiprocess", workers=2)) == 1
    assert spill_buckets(str(tmp_path / "none-*.avro"), ReplaySettings()) == 1
