"""Many files per element: the grouped, columnar replay writes exactly what the per-file replay wrote."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import apache_beam as beam
import fastavro
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pilotzone.pipelines.jobs.replay import ReplayOutputs, runner_totals, write_outputs
from pilotzone.pipelines.transforms.buckets import ReplayGroupsInMemory, ReplayGroupsSpilled
from pilotzone.pipelines.transforms.compliance import InMemoryReplaySettings, ReplayInMemory
from pilotzone.pipelines.transforms.decode import ReadTelemetry
from pilotzone.pipelines.transforms.inputs import InputPatternError
from pilotzone.pipelines.transforms.read_many import (
    DecodeGroupFn,
    FileSlice,
    GroupChunk,
    GroupChunkCoder,
    ReadTelemetryGroups,
    plan_groups,
)
from pilotzone.pipelines.transforms.spill import SpillPlan, vehicle_bucket
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.columnar import scan_container
from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.decode import DecodedBlock, TelemetryDecoder
from pilotzone.zones import Zone, load_zones
from tests.factories import container_bytes, track, write_container
from tests.pipelines.fleets import EVERY_KIND_ZONE, every_kind_fleet

OUTPUT_FILES = ("incidents.jsonl", "summaries.jsonl", "dead-letters.jsonl")
FNAPI = PipelineOptions(["--runner=FnApiRunner"])


@pytest.fixture(scope="module")
def zones() -> list[Zone]:
    return load_zones([EVERY_KIND_ZONE])


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory, zones: list[Zone]) -> Path:
    """A fleet's uploads re-encoded in every codec (lz4 included, which only the reference
    decoder reads), one in a newer writer schema that must be resolved, a file uploaded twice,
    a truncated file, a file that is not Avro, and a record over the event bound."""
    fleet = every_kind_fleet(zones, tmp_path_factory.mktemp("fleet") / "sim", vehicles=12, duration_s=300)
    folder = tmp_path_factory.mktemp("uploads")
    codecs = ["deflate", "null", "snappy", "zstandard", "bzip2", "xz", "lz4"]
    newer = schema_dict(TELEMETRY)
    newer["fields"].append({"name": "firmware", "type": "string", "default": ""})
    for index, path in enumerate(sorted((fleet / "telemetry").rglob("*.avro"))):
        records = list(fastavro.reader(path.open("rb")))
        name = f"{path.parent.name}-{path.stem}.avro"
        if index % 11 == 5:
            for record in records:
                record["firmware"] = "2.1"
            (folder / name).write_bytes(container_bytes(records, schema=newer))
        else:
            (folder / name).write_bytes(
                container_bytes(records, codec=codecs[index % len(codecs)], sync_interval=1500)
            )
    first = sorted(folder.iterdir())[3]
    shutil.copy(first, folder / f"{first.stem}-again.avro")
    (folder / "zz-broken.avro").write_bytes(container_bytes(track(50, vehicle_id="veh-broken"))[:-40])
    (folder / "zz-garbage.avro").write_bytes(b"not avro" * 20)
    loud = track(4, vehicle_id="veh-loud")
    loud[2]["events"] = [{"kind": "OTHER", "initiated_by": None}] * 40
    (folder / "zz-loud.avro").write_bytes(container_bytes(loud))
    return folder


def _outputs(out: Path) -> ReplayOutputs:
    return ReplayOutputs(
        incidents_jsonl=out / "incidents.jsonl",
        dead_letter_jsonl=out / "dead-letters.jsonl",
        summaries_jsonl=out / "summaries.jsonl",
    )


def _run(build: Any, out: Path) -> dict[str, int]:
    pipeline = beam.Pipeline(options=FNAPI)
    write_outputs(build(pipeline), _outputs(out), 60)
    result = pipeline.run()
    result.wait_until_finish()
    return runner_totals(result.metrics().query())


@pytest.fixture(scope="module")
def per_file(
    tmp_path_factory: pytest.TempPathFactory, zones: list[Zone], telemetry: Path
) -> tuple[Path, dict[str, int]]:
    """The replay as it was: one element per file, one chunk per vehicle and file."""
    out = tmp_path_factory.mktemp("per-file")
    counters = _run(
        lambda p: (
            p | ReadTelemetry(str(telemetry / "*.avro")) | ReplayInMemory(zones, InMemoryReplaySettings(60))
        ),
        out,
    )
    return out, counters


COUNTERS = ("records_read", "records_decoded", "records_dead_lettered")


@pytest.mark.slow
@pytest.mark.parametrize("max_bytes", [1500, 20_000, 64 * 1024 * 1024])
def test_grouped_replay_writes_the_same_bytes_and_counts(
    tmp_path: Path,
    zones: list[Zone],
    telemetry: Path,
    per_file: tuple[Path, dict[str, int]],
    max_bytes: int,
) -> None:
    reference, reference_counters = per_file
    counters = _run(
        lambda p: (
            p
            | ReadTelemetryGroups(str(telemetry / "*.avro"), max_bytes=max_bytes)
            | ReplayGroupsInMemory(zones, 60)
        ),
        tmp_path,
    )
    for name in OUTPUT_FILES:
        assert (tmp_path / name).read_bytes() == (reference / name).read_bytes(), name
    dead_letter_counters = {k: v for k, v in reference_counters.items() if k.startswith("dead_letters_")}
    assert {k: counters[k] for k in dead_letter_counters} == dead_letter_counters
    assert [counters[k] for k in COUNTERS] == [reference_counters[k] for k in COUNTERS]
    files = len(list(telemetry.iterdir()))
    # lz4 (1 in 7 of the fleet's files), the newer schema, the three bad files and the loud one.
    assert counters["files_decoded_reference"] > files // 7
    if max_bytes > 5000:  # no file is sliced: each is decoded by exactly one of the two
        assert counters["files_decoded_columnar"] + counters["files_decoded_reference"] == files


@pytest.mark.slow
def test_spilled_grouped_replay_writes_the_same_bytes(
    tmp_path: Path, zones: list[Zone], telemetry: Path, per_file: tuple[Path, dict[str, int]]
) -> None:
    reference, _ = per_file
    spill = tmp_path / "spill"
    spill.mkdir()
    _run(
        lambda p: (
            p
            | ReadTelemetryGroups(str(telemetry / "*.avro"), max_bytes=30_000)
            | ReplayGroupsSpilled(zones, 60, SpillPlan(str(spill), 3))
        ),
        tmp_path / "out",
    )
    for name in OUTPUT_FILES:
        assert (tmp_path / "out" / name).read_bytes() == (reference / name).read_bytes(), name
    assert sorted({p.parent.name for p in spill.glob("bucket-*/*.groups")}) == [
        f"bucket-{b:05d}" for b in range(3)
    ]


def test_groups_are_cut_by_size_and_keep_path_order(tmp_path: Path) -> None:
    for name, size in [("c", 50), ("a", 30), ("b", 30), ("d", 200), ("e", 10)]:
        (tmp_path / f"{name}.avro").write_bytes(b"x" * size)
    groups = plan_groups(str(tmp_path / "*.avro"), max_bytes=70)
    assert [[(Path(p).stem, i, n) for p, i, n in group] for group in groups] == [
        [("a", 0, 1), ("b", 0, 1)],
        [("c", 0, 1)],
        [("d", 0, 3)],
        [("d", 1, 3)],
        [("d", 2, 3)],
        [("e", 0, 1)],
    ]
    assert [len(g) for g in plan_groups(str(tmp_path / "*.avro"), max_bytes=10**6, max_files=2)] == [2, 2, 1]


def test_a_pattern_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputPatternError, match="matches no file"):
        plan_groups(str(tmp_path / "none-*.avro"))


def _decoded_chunks(decode: DecodeGroupFn, element: tuple[int, list[FileSlice]]) -> list[tuple[int, bytes]]:
    """(bucket, chunk bytes) of one group, dead letters left out."""
    return [
        (output[0], GroupChunkCoder().encode(output[1]))
        for output in decode.process(element)
        if isinstance(output, tuple)
    ]


def _fresh(buckets: int) -> DecodeGroupFn:
    decode = DecodeGroupFn(buckets)
    decode.setup()
    return decode


def test_bucket_chunks_hold_each_buckets_rows_in_file_order(tmp_path: Path) -> None:
    """Cut by one stable sort: every bucket's rows, in the order of the files, as a mask per
    bucket over the reference decoder's records gives them."""
    vehicles = [f"veh-{i:02d}" for i in range(12)] + ["광주-셔틀-07", "🚌-07"]
    paths = []
    for index, vehicle in enumerate(vehicles):
        records = track(7, vehicle_id=vehicle)
        records[3]["events"] = [{"kind": "OTHER", "initiated_by": None}]
        paths.append(write_container(tmp_path / f"{index:02d}.avro", records))
    chunks = _decoded_chunks(_fresh(4), (3, [(str(path), 0, 1) for path in paths]))
    decoder = TelemetryDecoder()
    reference = TelemetryBatch.concat(
        [
            TelemetryBatch.from_records(block.records, block.first_record)
            for path in paths
            for block in decoder.decode(path.read_bytes(), str(path))
            if isinstance(block, DecodedBlock)
        ]
    )
    row_bucket = np.array([vehicle_bucket(str(v), 4) for v in reference.vehicle_id])
    expected = [
        (bucket, GroupChunkCoder().encode(GroupChunk(3, reference.take(row_bucket == bucket))))
        for bucket in sorted(set(row_bucket.tolist()))
    ]
    assert [bucket for bucket, _ in chunks] == [bucket for bucket, _ in expected]
    assert len(expected) > 1
    assert chunks == expected


def test_the_slices_of_a_file_share_its_scan_only_while_its_bytes_are_the_same(tmp_path: Path) -> None:
    records = [record for vehicle in ("veh-a", "veh-b", "veh-c") for record in track(300, vehicle_id=vehicle)]
    path = write_container(tmp_path / "part.avro", records, codec="null", sync_interval=2000)
    size = path.stat().st_size
    slices = [(str(path), index, 3) for index in range(3)]
    expected = [_decoded_chunks(_fresh(2), (index, [part])) for index, part in enumerate(slices)]
    shared = _fresh(2)
    assert [_decoded_chunks(shared, (index, [part])) for index, part in enumerate(slices)] == expected
    # The file changes between two slices (same size, other ids): the next slice reads the new bytes.
    _decoded_chunks(shared, (0, [slices[0]]))
    changed = [{**record, "vehicle_id": record["vehicle_id"].replace("veh", "car")} for record in records]
    write_container(path, changed, codec="null", sync_interval=2000)
    assert path.stat().st_size == size
    assert _decoded_chunks(shared, (1, [slices[1]])) == _decoded_chunks(_fresh(2), (1, [slices[1]]))
    assert _decoded_chunks(_fresh(2), (1, [slices[1]])) != expected[1]


def test_a_corrupt_deflate_block_sends_only_its_file_to_the_reference_decoder(tmp_path: Path) -> None:
    """The frame is intact, so the pre-scan passes the file; inflating its block fails, the
    group is decoded again file by file, and only that file is read by the reference decoder,
    whose dead letter names the block's offset."""
    paths = [
        write_container(tmp_path / f"{name}.avro", track(30, vehicle_id=name), sync_interval=400)
        for name in ("veh-a", "veh-b", "veh-c")
    ]
    data = paths[1].read_bytes()
    scan = scan_container(data)
    assert scan is not None and len(scan.block_offsets) > 1
    start, end = scan.block_data[1]
    paths[1].write_bytes(data[:start] + b"\xff" * (end - start) + data[end:])
    decode = _fresh(1)
    outputs = list(decode.process((0, [(str(path), 0, 1) for path in paths])))
    dead = [output.value for output in outputs if isinstance(output, beam.pvalue.TaggedOutput)]
    assert [(d["source"], d["offset"], d["reason"]) for d in dead] == [
        (str(paths[1]), scan.block_offsets[1], "corrupt_block")
    ]
    (bucket, chunk) = next(output for output in outputs if isinstance(output, tuple))
    kept = [1 if vehicle == "veh-b" else 0 for vehicle in chunk.batch.vehicle_id.tolist()]
    assert (bucket, len(chunk.batch), sum(kept)) == (0, 90 - dead[0]["records"], 30 - dead[0]["records"])
