"""The watched folder on Prism: files uploaded while the monitor runs are evaluated live.

A fleet is simulated to start a few seconds from now and its upload slices are written into
the watched folder as the wall clock passes them, as the vehicles would. The monitor must
write an incident while uploads are still arriving, ignore a file still being written, and end
(when told to stop watching) with exactly the incidents and summaries a replay of the same
files gives.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.demo import final_states
from pilotzone.pipelines.simulator import SimulationOptions, simulate
from pilotzone.zones import Zone
from tests.pipelines.fleets import EVERY_KIND_ZONE, RULE_KINDS
from tests.pipelines.live.feeding import feed_in_real_time, latest_summaries, rows_in
from tests.pipelines.metrics.exposition import samples_of
from tests.processes import cli_process
from tests.servers import free_port, prometheus, promql

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLICE_S = 10
DURATION_S = 60


def test_uploads_while_running_are_evaluated_live_and_end_as_the_replay(
    tmp_path: Path, every_kind_zones: list[Zone]
) -> None:
    start = dt.datetime.fromtimestamp(int(time.time()) + 6, dt.UTC)
    simulation = tmp_path / "sim"
    simulate(
        every_kind_zones,
        SimulationOptions(
            vehicles=8, duration_s=DURATION_S, rate_hz=1.0, seed=5, start=start, slice_s=SLICE_S,
            inject=dict.fromkeys(RULE_KINDS, 0.3),
        ),
        simulation,
    )  # fmt: skip
    incoming, out = tmp_path / "incoming", tmp_path / "live"
    incoming.mkdir()
    # A file still being written: the glob must never match it, whatever it holds.
    (incoming / "20990101T000000Z-veh.avro.part").write_bytes(b"half an upload")
    # Stop watching 20 s after the last upload (time to read it on a loaded machine) and before
    # any gap could open (last fix + 10 s max gap + 30 s lateness): the drain then flushes
    # every vehicle without opening gaps, as a replay reaching the end of its input does.
    run_for = start.timestamp() + DURATION_S + 20 - time.time()
    # Ten-second summary windows, so fleet figures (not only incidents) flow while uploads do.
    common = ["--zones", str(EVERY_KIND_ZONE), "--allowed-lateness", "30", "--window", "10", "--quiet"]
    port = free_port()
    command = [str(Path(sys.executable).with_name("pilotzone")), "stream", *common, "--runner", "prism",
               "--source", "folder", "--watch", str(incoming / "*.avro"), "--poll", "1",
               "--run-for", f"{run_for:.0f}", "--incidents-dir", str(out), "--push-interval", "2",
               "--metrics-port", str(port)]  # fmt: skip
    scrape = {"scrape_interval": "1s"}
    targets = [{"job_name": "pilotzone", **scrape, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]
    opened_while_uploading: list[str] = []
    samples_seen: list[float] = []

    def watch() -> None:
        opened_while_uploading.extend(
            row["incident_id"] for row in rows_in(out / "incidents") if row["status"] == "OPENED"
        )
        answer = promql(server, "sum(pilotzone_samples_total)")
        samples_seen.extend(float(row["value"][1]) for row in answer)

    with (
        prometheus(tmp_path, {"global": scrape, "scrape_configs": targets}) as server,
        cli_process(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as monitor,
    ):
        feed_in_real_time(simulation, incoming, SLICE_S, between=watch)
        output, _ = monitor.communicate(timeout=run_for + 120)
    assert monitor.returncode == 0, output
    assert opened_while_uploading, "no incident was written while the vehicles were still uploading"
    # Prometheus saw the fleet's sample count grow while the vehicles were still uploading.
    assert len(set(samples_seen)) >= 2 and samples_seen == sorted(samples_seen), samples_seen

    replay = tmp_path / "replay"
    assert main(["run", *common, "--input", str(incoming / "*.avro"),
                 "--incidents", str(replay / "incidents.jsonl")]) == 0  # fmt: skip
    expected = {row["incident_id"]: row for row in read_jsonl(replay / "incidents.jsonl")}
    assert final_states(rows_in(out / "incidents")) == expected
    assert {row["kind"] for row in expected.values()} >= {"speed_limit", "restricted_area"}
    assert latest_summaries(rows_in(out / "summaries")) == latest_summaries(
        read_jsonl(replay / "summaries.jsonl")
    )
    assert rows_in(out / "dead-letters") == read_jsonl(replay / "dead-letters.jsonl") == []
    final_metrics = samples_of((out / "metrics.txt").read_text())
    samples_total = sum(v for (name, _), v in final_metrics.items() if name == "pilotzone_samples_total")
    assert samples_total == sum(row["samples"] for row in read_jsonl(replay / "summaries.jsonl"))
