"""What a replay leaves behind can be trusted: a manifest written last, verifiable, absent after a
crash; globs as users mean them; printed dead-letter counts equal to the exported ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.manifest import MANIFEST_FILE, sha256_of, verify_run
from pilotzone.pipelines.jobs.report import read_jsonl
from tests.factories import container_bytes, track, write_container
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.metrics.exposition import samples_of


def replay(inputs: str, out: Path, *options: str) -> int:
    return main(["run", "--zones", str(EVERY_KIND_ZONE), "--input", inputs,
                 "--incidents", str(out / "incidents.jsonl"), "--quiet", *options])  # fmt: skip


def test_an_input_pattern_that_matches_nothing_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MANIFEST_FILE).write_text("{}")
    pattern = str(tmp_path / "empty" / "**" / "*.avro")
    assert replay(pattern, tmp_path / "out") == 2
    assert capsys.readouterr().err == (
        f"pilotzone run: --input {pattern!r} matches no file: check the folder and the pattern (quote it, so "
        "the shell does not expand it; '**' matches any folders, none included)\n"
    )
    assert (tmp_path / "out" / MANIFEST_FILE).read_text() == "{}", "an unusable argument changes nothing"


@pytest.fixture
def bad_uploads(tmp_path: Path) -> Path:
    """Good files directly in the folder and below it, and every kind of bad record."""
    uploads = tmp_path / "uploads"
    (uploads / "day1").mkdir(parents=True)
    write_container(uploads / "good.avro", track(20, vehicle_id="veh-good", operator_id="op-taxi"))
    mixed = track(20, vehicle_id="veh-mixed", operator_id="op-taxi")
    mixed[3]["current_location_latitude"] = 91.0
    mixed[12]["sequence_number"] = mixed[11]["sequence_number"]
    write_container(uploads / "day1" / "mixed.avro", mixed)
    far = track(4, vehicle_id="veh-far", operator_id="op-nowhere", current_location_latitude=37.5)
    write_container(uploads / "day1" / "far.avro", far)
    # 60 records in blocks of about 12; cut inside the last block, which is dead-lettered whole.
    whole = container_bytes(track(60, vehicle_id="veh-cut", operator_id="op-taxi"), sync_interval=500)
    (uploads / "day1" / "cut.avro").write_bytes(whole[:-40])
    (uploads / "day1" / "garbage.avro").write_bytes(b"not avro at all")
    return uploads


@pytest.mark.slow
def test_printed_exported_and_recorded_dead_letter_counts_agree(
    tmp_path: Path, bad_uploads: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert replay(str(bad_uploads / "**" / "*.avro"), out, "--metrics-file", str(out / "metrics.txt")) == 0
    printed = capsys.readouterr().out.splitlines()
    head = printed[0].split(", ")
    read, dead = int(head[0].split()[-1]), int(head[2].split()[-1])
    (line,) = [line for line in printed if line.startswith("dead letters: ")]
    by_reason = {
        r.rsplit(" ", 1)[0]: int(r.rsplit(" ", 1)[1]) for r in line.removeprefix("dead letters: ").split(", ")
    }
    exported = samples_of((out / "metrics.txt").read_text())
    metric = {
        dict(labels)["reason"]: v
        for (name, labels), v in exported.items()
        if name == "pilotzone_dead_letters_total"
    }
    in_file: Counter[str] = Counter()
    for row in read_jsonl(out / "dead-letters.jsonl"):
        in_file[row["reason"]] += row["records"]
    counts = json.loads((out / MANIFEST_FILE).read_text())["counts"]
    assert set(by_reason) == {"duplicate", "not_avro", "out_of_range", "outside_all_zones", "truncated"}
    assert by_reason == metric == dict(in_file) == counts["dead_letters_by_reason"]
    assert by_reason["truncated"] > 1, "a truncated block stands for all of its records"
    assert by_reason["outside_all_zones"] == 4
    assert sum(by_reason.values()) == dead == counts["records_dead_lettered"]
    assert read == counts["records_read"] == counts["records_evaluated"] + dead
    assert exported[("pilotzone_records_read_total", ())] == read
    # '**/' matched the file lying directly in uploads/ too.
    sources = {entry["path"] for entry in json.loads((out / MANIFEST_FILE).read_text())["inputs"]["files"]}
    assert sources == {str(bad_uploads / name) for name in
                       ["good.avro", "day1/mixed.avro", "day1/far.avro", "day1/cut.avro", "day1/garbage.avro"]}  # fmt: skip


@pytest.mark.slow
def test_the_manifest_lists_every_output_and_a_tampered_one_fails_verify(
    tmp_path: Path, bad_uploads: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    options = [
        "--incidents-avro",
        str(out / "incidents.avro"),
        "--metrics-file",
        str(tmp_path / "metrics.txt"),
    ]
    assert replay(str(bad_uploads / "**" / "*.avro"), out, *options) == 0
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    names = ["../metrics.txt", "dead-letters.jsonl", "incidents.avro", "incidents.jsonl", "summaries.jsonl"]
    assert [entry["path"] for entry in manifest["outputs"]] == names
    assert [entry["sha256"] for entry in manifest["outputs"]] == [sha256_of(out / name) for name in names]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names[1:], MANIFEST_FILE]), "no partial files"
    assert main(["manifest", "verify", str(out), "--inputs-root", "/"]) == 0
    rows = (out / "dead-letters.jsonl").read_text().splitlines(keepends=True)
    (out / "dead-letters.jsonl").write_text("".join(rows[1:]))  # one dead letter made to disappear
    capsys.readouterr()
    assert main(["manifest", "verify", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{out / MANIFEST_FILE}: the outputs do not match"
    assert [line.split(" (")[0] for line in err[1:]] == ["  output changed: dead-letters.jsonl"]


@pytest.mark.slow
def test_a_run_killed_midway_leaves_no_manifest(tmp_path: Path, small_fleet: Path) -> None:
    out = tmp_path / "out"
    pattern = str(small_fleet / "telemetry" / "**" / "*.avro")
    assert replay(pattern, out) == 0
    assert verify_run(out).status == 0
    command = [str(Path(sys.executable).with_name("pilotzone")), "run", "--zones", str(EVERY_KIND_ZONE),
               "--input", pattern, "--incidents", str(out / "incidents.jsonl"), "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while (out / MANIFEST_FILE).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, "the second run ended before it could be killed"
        assert not (out / MANIFEST_FILE).exists(), "the old manifest goes before anything is written"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    result = verify_run(out)
    assert result.status == 1
    assert result.problems[0].startswith(f"incomplete: {out} has no {MANIFEST_FILE}")
