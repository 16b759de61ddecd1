"""``pilotzone compact``: same records in the same order, provenance per block, same bytes twice."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.compaction import MANIFEST, CompactionError, compact, verbatim_name
from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings, run_replay
from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.zones import load_zones
from tests.factories import container_bytes, track
from tests.pipelines.fleets import EVERY_KIND_ZONE, every_kind_fleet


def _records(data: bytes) -> list[dict[str, Any]]:
    return list(fastavro.reader(io.BytesIO(data)))


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """Two vehicles over three minutes in nested folders, two codecs, a newer writer schema,
    an lz4 file, a truncated file and one that is not Avro."""
    folder = tmp_path / "uploads"
    for minute in range(3):
        for vehicle in ("veh-a", "veh-b"):
            records = track(20, vehicle_id=vehicle)
            for i, record in enumerate(records):
                record["sequence_number"] = minute * 20 + i
                record["current_location_timestamp"] += minute * 60_000
            path = folder / f"2026-11-23T010{minute}" / f"{vehicle}.avro"
            path.parent.mkdir(parents=True, exist_ok=True)
            codec = "snappy" if vehicle == "veh-b" and minute == 1 else "deflate"
            path.write_bytes(container_bytes(records, codec=codec, sync_interval=400))
    newer = schema_dict(TELEMETRY)
    newer["fields"].append({"name": "firmware", "type": "string", "default": ""})
    (folder / "newer.avro").write_bytes(
        container_bytes([{**r, "firmware": "2.1"} for r in track(5, vehicle_id="veh-c")], schema=newer)
    )
    (folder / "lz4.avro").write_bytes(container_bytes(track(4, vehicle_id="veh-d"), codec="lz4"))
    (folder / "bad" / "truncated.avro").parent.mkdir()
    (folder / "bad" / "truncated.avro").write_bytes(container_bytes(track(30))[:-30])
    (folder / "bad" / "garbage.avro").write_bytes(b"garbage" * 9)
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_parts_hold_the_same_records_in_file_order(uploads: Path, tmp_path: Path) -> None:
    summary = compact(uploads, tmp_path / "out")
    assert (summary.files_in, summary.files_merged, summary.files_verbatim) == (10, 7, 3)
    assert summary.records == 6 * 20 + 5
    out = tmp_path / "out"
    parts = {name: _records((out / name).read_bytes()) for name in summary.parts}
    assert len(parts) == 3  # deflate contract, snappy contract, deflate newer schema
    merged = [r for name in summary.parts for r in parts[name]]
    assert len(merged) == summary.records
    by_codec = {name.split("-")[2]: records for name, records in parts.items() if len(records) != 5}
    deflate_sources = sorted(p for p in uploads.rglob("*.avro") if p.parent.name.startswith("2026"))
    expected_deflate = [
        r
        for p in deflate_sources
        if not (p.stem == "veh-b" and p.parent.name.endswith("01"))
        for r in _records(p.read_bytes())
    ]
    assert by_codec["deflate"] == expected_deflate
    assert by_codec["snappy"] == _records((uploads / "2026-11-23T0101" / "veh-b.avro").read_bytes())
    for name in ("lz4.avro", "bad/truncated.avro", "bad/garbage.avro"):
        assert (out / verbatim_name(name)).read_bytes() == (uploads / name).read_bytes()


def test_every_block_leads_back_to_its_upload(uploads: Path, tmp_path: Path) -> None:
    summary = compact(uploads, tmp_path / "out")
    checked = 0
    for name in summary.parts:
        part = (tmp_path / "out" / name).read_bytes()
        records = _records(part)
        lines = [
            json.loads(line) for line in (tmp_path / "out" / f"{name}.sources.jsonl").read_text().splitlines()
        ]
        assert sum(line["records"] for line in lines) == len(records)
        for line in lines:
            source = _records((uploads / line["source"]).read_bytes())
            first, count = line["source_first_record"], line["records"]
            assert (
                records[line["first_record"] : line["first_record"] + count] == source[first : first + count]
            )
            assert part[line["offset"] : line["offset"] + 1] == bytes([count * 2])  # the block's count varint
            checked += count
    assert checked == summary.records


def test_compaction_is_idempotent(uploads: Path, tmp_path: Path) -> None:
    compact(uploads, tmp_path / "one")
    first = _tree(tmp_path / "one")
    compact(uploads, tmp_path / "one")
    assert _tree(tmp_path / "one") == first
    compact(uploads, tmp_path / "two")
    assert _tree(tmp_path / "two") == first
    assert json.loads(first[MANIFEST])["files_in"] == 10


def test_small_parts_roll_over_and_keep_every_record(uploads: Path, tmp_path: Path) -> None:
    summary = compact(uploads, tmp_path / "out", part_bytes=1500)
    assert len(summary.parts) > 3
    assert sum(len(_records((tmp_path / "out" / n).read_bytes())) for n in summary.parts) == summary.records


def test_folders_that_would_lose_data_are_refused(uploads: Path, tmp_path: Path) -> None:
    with pytest.raises(CompactionError, match="inside"):
        compact(uploads, uploads / "out")
    stranger = tmp_path / "taken"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(CompactionError, match=r"notes\.txt"):
        compact(uploads, stranger)
    with pytest.raises(CompactionError, match="not a folder"):
        compact(tmp_path / "missing", tmp_path / "out")


def test_cli_reports_and_refuses(uploads: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compact", str(uploads), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("compacted 7 of 10 files (125 records) into 3 parts")
    assert main(["compact", str(uploads), "--out", str(uploads)]) == 2
    assert "another folder" in capsys.readouterr().err
    assert main(["compact", str(uploads), "--out", str(tmp_path / "other"), "--part-mb", "0"]) == 2
    assert capsys.readouterr().err == "pilotzone compact: --part-mb must be at least 1\n"


@pytest.mark.slow
def test_a_compacted_folder_replays_to_the_same_incidents(tmp_path: Path) -> None:
    zones = load_zones([EVERY_KIND_ZONE])
    fleet = every_kind_fleet(zones, tmp_path / "sim", vehicles=10, duration_s=300)
    compact(fleet / "telemetry", tmp_path / "compacted")
    results = {}
    for name, pattern in [
        ("uploads", str(fleet / "telemetry" / "**" / "*.avro")),
        ("compacted", str(tmp_path / "compacted" / "*.avro")),
    ]:
        out = tmp_path / f"out-{name}"
        counters = run_replay(
            zones,
            pattern,
            ReplayOutputs(incidents_jsonl=out / "incidents.jsonl", summaries_jsonl=out / "summaries.jsonl"),
            ReplaySettings(progress=False, runner="direct"),
        )
        results[name] = (out, counters)
    (upload_out, upload_counters), (compact_out, compact_counters) = results["uploads"], results["compacted"]
    for name in ("incidents.jsonl", "summaries.jsonl"):
        assert (compact_out / name).read_bytes() == (upload_out / name).read_bytes(), name
    for counter in ("records_read", "records_decoded", "records_dead_lettered"):
        assert compact_counters[counter] == upload_counters[counter], counter
