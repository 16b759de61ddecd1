"""A stream's run manifest: its files (by run id) and its counts (from the final metrics file)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.manifest import MANIFEST_FILE, verify_run
from pilotzone.pipelines.jobs.stream_manifest import counters_from_metrics_file, stream_outputs
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.processes import run_cli

METRICS = """# TYPE pilotzone_samples counter
pilotzone_samples_total{pilot_zone="z",operator="a",vehicle_class="BUS"} 10.0
pilotzone_samples_total{pilot_zone="z",operator="b",vehicle_class="BUS"} 5.0
# TYPE pilotzone_records_read counter
pilotzone_records_read_total 18.0
# TYPE pilotzone_dead_letters counter
pilotzone_dead_letters_total{reason="late"} 2.0
pilotzone_dead_letters_total{reason="not_avro"} 1.0
# EOF
"""


def test_counts_come_from_the_final_metrics_file(tmp_path: Path) -> None:
    (tmp_path / "metrics.txt").write_text(METRICS)
    assert counters_from_metrics_file(tmp_path / "metrics.txt") == {
        "records_read": 18, "records_decoded": 15, "records_dead_lettered": 3,
        "dead_letters_late": 2, "dead_letters_not_avro": 1,
    }  # fmt: skip
    assert counters_from_metrics_file(tmp_path / "none.txt") == {
        "records_read": 0, "records_decoded": 0, "records_dead_lettered": 0
    }  # fmt: skip


def test_the_outputs_are_this_runs_files(tmp_path: Path) -> None:
    names = ["incidents/incidents-20261123T0100Z-RUN-a1b2-000001.jsonl",
             "incidents/incidents-20261123T0100Z-OTHER-a1b2-000001.jsonl",
             "incidents/.incidents-20261123T0101Z-RUN-a1b2-000002.jsonl.partial",
             "summaries/summaries-20261123T0100Z-RUN-c3d4-000001.jsonl",
             "dead-letters/dead-letters-20261123T0100Z-RUN-c3d4-000003.jsonl",
             "fence-enforcement/fence-enforcement-20261123T0100Z-RUN-a1b2-000004.jsonl"]  # fmt: skip
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in stream_outputs(tmp_path, "RUN")] == [
        names[4],
        names[5],
        names[0],
        names[3],
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_a_drained_stream_writes_a_manifest_that_verifies(tmp_path: Path, small_fleet: Path) -> None:
    incoming, out = tmp_path / "incoming", tmp_path / "stream"
    incoming.mkdir()
    (incoming / "later").mkdir()
    for index, path in enumerate(sorted((small_fleet / "telemetry").rglob("*.avro"))[:12]):
        # Uploads directly in the watched folder and below it: '**/' matches no folder too.
        shutil.copyfile(path, incoming / ("later" if index % 2 else "") / f"{path.parent.name}-{path.name}")
    out.mkdir()
    (out / MANIFEST_FILE).write_text("an earlier run's")
    command = [str(Path(sys.executable).with_name("pilotzone")), "stream", "--zones", str(EVERY_KIND_ZONE),
               "--runner", "prism", "--source", "folder", "--watch", str(incoming / "**" / "*.avro"), "--poll", "1",
               "--run-for", "10", "--incidents-dir", str(out), "--allowed-lateness", "3600", "--quiet"]  # fmt: skip
    finished = run_cli(command, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert (manifest["command"], manifest["stopped_by"], manifest["inputs"]["pattern"]) == (
        "stream", "drain", str(incoming / "**" / "*.avro")
    )  # fmt: skip
    listed = {entry["path"] for entry in manifest["outputs"]}
    written = {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_FILE
    }
    assert listed == written
    assert {name.split("/")[0] for name in listed} >= {"incidents", "summaries", "metrics.txt"}
    dead = [json.loads(line) for p in out.glob("dead-letters/*.jsonl") for line in p.read_text().splitlines()]
    counts = manifest["counts"]
    assert counts["records_read"] == counts["records_evaluated"] + counts["records_dead_lettered"] > 0
    assert counts["records_dead_lettered"] == sum(row["records"] for row in dead)
    assert verify_run(out).status == 0
    # Every upload was read, in the folder and below it: as many records as a replay of them reads.
    replayed = tmp_path / "replay"
    assert main(["run", "--zones", str(EVERY_KIND_ZONE), "--input", str(incoming / "**" / "*.avro"),
                 "--incidents", str(replayed / "incidents.jsonl"), "--quiet"]) == 0  # fmt: skip
    replay_counts = json.loads((replayed / MANIFEST_FILE).read_text())["counts"]
    assert len(json.loads((replayed / MANIFEST_FILE).read_text())["inputs"]["files"]) == 12
    assert counts["records_read"] == replay_counts["records_read"]
