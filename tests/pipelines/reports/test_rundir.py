"""Reading a replay's and a stream's output folders into one shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.pipelines.reports.rundir import RunFolderError, read_run_folder
from tests.pipelines.reports.runs import incident, replay_folder, summary, write_jsonl


def test_a_replay_folder_with_its_metrics_file(tmp_path: Path) -> None:
    replay_folder(
        tmp_path,
        [incident(1, version="sha256:aaaa")],
        [summary(0, "op-taxi", "ROBOTAXI")],
        [{"reason": "corrupt"}, {"reason": "late"}, {"reason": "corrupt"}],
    )
    (tmp_path / "metrics.txt").write_text(
        'pilotzone_zone_config_info{config_version="sha256:bbbb",pilot_zone="other"} 1.0\n'
    )
    run = read_run_folder(tmp_path)
    assert (run.layout, len(run.incidents), len(run.summaries)) == ("replay", 1, 1)
    assert run.dead_letters == {"corrupt": 2, "late": 1}
    assert run.config_versions == {"test-every-kind": {"sha256:aaaa"}, "other": {"sha256:bbbb"}}
    assert run.zone_ids == ["test-every-kind"]


def test_a_stream_folder_keeps_each_incident_s_furthest_state_and_each_summary_s_furthest_row(
    tmp_path: Path,
) -> None:
    opened = {"status": "OPENED", **incident(1, version="v", end=None)}
    closed = {"status": "CLOSED", **incident(1, version="v")}
    # Files of two workers: the CLOSED record sorts before the OPENED one.
    write_jsonl(tmp_path / "incidents" / "incidents-0100-run-a-0.jsonl", [closed])
    write_jsonl(tmp_path / "incidents" / "incidents-0100-run-b-0.jsonl", [opened])
    write_jsonl(
        tmp_path / "summaries" / "summaries-0100-run-a-0.jsonl",
        [summary(0, "op-taxi", "ROBOTAXI", samples=600)],
    )
    write_jsonl(
        tmp_path / "summaries" / "summaries-0100-run-b-0.jsonl",
        [summary(0, "op-taxi", "ROBOTAXI", samples=300)],
    )
    write_jsonl(
        tmp_path / "dead-letters" / "dead-letters-0100-run-a-0.jsonl", [{"reason": "late", "records": 4}]
    )
    run = read_run_folder(tmp_path)
    assert run.layout == "stream"
    assert [(row["status"], row["end_time"]) for row in run.incidents] == [
        ("CLOSED", "2026-11-23T01:59:00.000Z")
    ]
    assert [row["samples"] for row in run.summaries] == [600]
    assert run.dead_letters == {"late": 4}


def test_a_folder_of_neither_layout_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"neither incidents.jsonl .* nor incidents/"):
        read_run_folder(tmp_path)
    with pytest.raises(RunFolderError, match="is not a folder"):
        read_run_folder(tmp_path / "missing")


def test_a_broken_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "incidents.jsonl").write_text(json.dumps(incident(1, version="v")) + "\n{oops\n")
    with pytest.raises(RunFolderError, match=r"incidents.jsonl, line 2: not JSON"):
        read_run_folder(tmp_path)
