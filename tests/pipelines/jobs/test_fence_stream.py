"""The Prism folder stream with emergency fences gives the replay's incidents with the same fences."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.demo import final_states
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.jobs.test_fence_replay import write_west_fence
from tests.pipelines.live.feeding import rows_in
from tests.pipelines.metrics.exposition import samples_of
from tests.pipelines.metrics.test_fence_metrics import fence_samples

pytestmark = [pytest.mark.fences, pytest.mark.slow, pytest.mark.integration]

EXITS_AND_INSIDE = (1, 4)
"""Vehicles of the small fleet that left the western fence, and that are inside it at the end."""


def test_watched_folder_stream_with_fences_gives_the_replays_incidents(
    tmp_path: Path, small_fleet: Path
) -> None:
    fences = tmp_path / "fences"
    fences.mkdir()
    draft = write_west_fence(tmp_path)
    assert main(["fences", "publish", str(draft), "--to", str(fences)]) == 0
    pattern = str(small_fleet / "telemetry" / "**" / "*.avro")
    common = [
        "--zones",
        str(EVERY_KIND_ZONE),
        "--allowed-lateness",
        "3600",
        "--quiet",
        "--fences",
        str(fences),
    ]
    replayed = tmp_path / "replay" / "incidents.jsonl"
    replay_metrics, stream_metrics = tmp_path / "replay-metrics.txt", tmp_path / "stream-metrics.txt"
    assert main(["run", *common, "--input", pattern, "--incidents", str(replayed),
                 "--metrics-file", str(replay_metrics)]) == 0  # fmt: skip
    status = main(
        ["stream", *common, "--source", "folder", "--watch", pattern, "--poll", "1", "--run-for", "3",
         "--incidents-dir", str(tmp_path / "stream"), "--metrics-file", str(stream_metrics)]
    )  # fmt: skip
    assert status == 0
    lifecycle = rows_in(tmp_path / "stream" / "incidents")
    replay = {row["incident_id"]: row for row in read_jsonl(replayed)}
    assert sum(row["kind"] == "emergency_fence" for row in replay.values()) == 5
    assert final_states(lifecycle) == replay
    # The fence families: the same figures, at the same event time (the last fix judged).
    replay_fences = fence_samples(samples_of(replay_metrics.read_text()))
    assert fence_samples(samples_of(stream_metrics.read_text())) == replay_fences
    assert replay_fences[("pilotzone_fences_in_force", (("pilot_zone", "every-kind"),))] == 1
    exits = sum(v for (name, _), v in replay_fences.items() if name == "pilotzone_fence_exit_seconds_count")
    inside = sum(v for (name, _), v in replay_fences.items() if name == "pilotzone_fence_vehicles_inside")
    assert (exits, inside) == EXITS_AND_INSIDE


def test_a_fence_published_while_the_stream_runs_is_enforced_without_a_restart(
    tmp_path: Path, small_fleet: Path
) -> None:
    """The stream starts with no fence and no telemetry; once it runs, the fence is published,
    then the fleet's files arrive: the fence judges them, as the replay with the fence does."""
    fences = tmp_path / "fences"
    fences.mkdir()
    watched = tmp_path / "uploads"
    watched.mkdir()
    draft = write_west_fence(tmp_path)
    uploads = sorted((small_fleet / "telemetry").rglob("*.avro"))

    def operator_and_fleet() -> None:
        # A file that is no telemetry: its dead letter shows the pipeline is up and polling.
        (watched / "probe.avro").write_bytes(b"not an Avro file")
        deadline = time.monotonic() + 60
        while not any((tmp_path / "stream").rglob("dead-letters*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert main(["fences", "publish", str(draft), "--to", str(fences)]) == 0
        time.sleep(5)  # several polls: the fence is in the judging step before any fix
        for index, upload in enumerate(uploads):
            shutil.copyfile(upload, watched / f".{index}.partial")
            (watched / f".{index}.partial").rename(watched / f"{index:04d}.avro")

    common = [
        "--zones",
        str(EVERY_KIND_ZONE),
        "--allowed-lateness",
        "3600",
        "--quiet",
        "--fences",
        str(fences),
    ]
    feeder = threading.Thread(target=operator_and_fleet)
    feeder.start()
    try:
        status = main(
            ["stream", *common, "--source", "folder", "--watch", str(watched / "*.avro"), "--poll", "1",
             "--run-for", "25", "--incidents-dir", str(tmp_path / "stream")]
        )  # fmt: skip
    finally:
        feeder.join(timeout=60)
    assert status == 0
    replayed = tmp_path / "replay" / "incidents.jsonl"
    pattern = str(small_fleet / "telemetry" / "**" / "*.avro")
    assert main(["run", *common, "--input", pattern, "--incidents", str(replayed)]) == 0
    replay = {row["incident_id"]: row for row in read_jsonl(replayed)}
    lifecycle = final_states(rows_in(tmp_path / "stream" / "incidents"))
    fence_rows = {key: row for key, row in lifecycle.items() if row["kind"] == "emergency_fence"}
    assert fence_rows == {key: row for key, row in replay.items() if row["kind"] == "emergency_fence"}
    assert len(fence_rows) == 5
