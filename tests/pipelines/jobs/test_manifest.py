"""The run manifest: what it records, and what ``verify_run`` finds in a folder (no pipeline)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from pilotzone.pipelines.atomic import write_text_atomically
from pilotzone.pipelines.cli import main
from pilotzone.pipelines.digests import FileDigest, read_input_digests
from pilotzone.pipelines.jobs.manifest import (
    FORMAT,
    MANIFEST_FILE,
    RunRecord,
    build_manifest,
    verify_run,
    write_manifest,
)
from pilotzone.zones import Zone

STARTED = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)
FINISHED = dt.datetime(2026, 11, 23, 1, 2, 3, 456000, tzinfo=dt.UTC)
COUNTERS = {"records_read": 13, "records_decoded": 10, "records_dead_lettered": 3, "dead_letters_not_avro": 1,
            "dead_letters_truncated": 2, "dead_letters_late": 0, "incidents_opened": 4}  # fmt: skip


def a_run(folder: Path, zones: list[Zone]) -> Path:
    """A run folder with two outputs (one in a sub-folder) and its manifest; returns the manifest."""
    write_text_atomically(folder / "incidents.jsonl", '{"incident_id": "a"}\n')
    write_text_atomically(folder / "metrics" / "metrics.txt", "# EOF\n")
    inputs = [FileDigest("in/a.avro", 3, hashlib.sha256(b"abc").hexdigest())]
    outputs = [folder / "metrics" / "metrics.txt", folder / "incidents.jsonl"]
    record = RunRecord("run", "in/**/*.avro", inputs, zones, COUNTERS, outputs, STARTED, FINISHED)
    write_manifest(record, folder / MANIFEST_FILE)
    return folder / MANIFEST_FILE


def test_manifest_records_inputs_zones_counts_outputs_and_software(
    tmp_path: Path, every_kind_zones: list[Zone]
) -> None:
    content = json.loads(a_run(tmp_path, every_kind_zones).read_text())
    assert content["format"] == FORMAT
    assert (content["command"], content["started"], content["finished"]) == (
        "run", "2026-11-23T01:00:00.000Z", "2026-11-23T01:02:03.456Z"
    )  # fmt: skip
    assert content["inputs"] == {
        "pattern": "in/**/*.avro",
        "bytes": 3,
        "files": [{"path": "in/a.avro", "bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}],
    }
    zone = every_kind_zones[0]
    assert content["zones"] == [
        {"pilot_zone": zone.zone_id, "config_version": zone.version, "source": str(zone.source)}
    ]
    assert content["counts"] == {
        "records_read": 13,
        "records_evaluated": 10,
        "records_dead_lettered": 3,
        "dead_letters_by_reason": {"not_avro": 1, "truncated": 2},
    }
    assert content["outputs"] == [
        {"path": "incidents.jsonl", "bytes": 21,
         "sha256": hashlib.sha256(b'{"incident_id": "a"}\n').hexdigest()},
        {"path": "metrics/metrics.txt", "bytes": 6, "sha256": hashlib.sha256(b"# EOF\n").hexdigest()},
    ]  # fmt: skip
    assert set(content["software"]) == {
        "python", "pilotzone-monitor", "apache-beam", "fastavro", "numpy", "shapely", "pydantic",
        "prometheus-client",
    }  # fmt: skip
    assert content["software"]["apache-beam"] == "2.73.0"


def test_manifest_is_the_same_for_the_same_run_apart_from_its_times(
    tmp_path: Path, every_kind_zones: list[Zone]
) -> None:
    first = json.loads(a_run(tmp_path / "one", every_kind_zones).read_text())
    second = json.loads(a_run(tmp_path / "two", every_kind_zones).read_text())
    assert first == second
    record = RunRecord("run", "p", [], every_kind_zones, COUNTERS, [], STARTED)
    later = build_manifest(record, tmp_path / "one" / MANIFEST_FILE)
    assert {key for key in later if later[key] != first[key]} == {"finished", "inputs", "outputs"}


def test_verify_accepts_an_untouched_run(tmp_path: Path, every_kind_zones: list[Zone]) -> None:
    manifest = a_run(tmp_path, every_kind_zones)
    for target in (tmp_path, manifest):
        result = verify_run(target)
        assert (result.status, result.problems, result.checked) == (0, [], 2)


def test_verify_lists_every_changed_and_missing_output(tmp_path: Path, every_kind_zones: list[Zone]) -> None:
    a_run(tmp_path, every_kind_zones)
    (tmp_path / "incidents.jsonl").write_text('{"incident_id": "b"}\n')  # same size, other bytes
    (tmp_path / "metrics" / "metrics.txt").unlink()
    result = verify_run(tmp_path)
    now = hashlib.sha256(b'{"incident_id": "b"}\n').hexdigest()[:16]
    recorded = hashlib.sha256(b'{"incident_id": "a"}\n').hexdigest()[:16]
    assert result.status == 1
    assert result.problems == [
        f"output changed: incidents.jsonl (21 bytes, sha256 {now}...; the manifest says 21 bytes, "
        f"sha256 {recorded}...)",
        "output missing: metrics/metrics.txt",
    ]


def test_verify_checks_inputs_from_where_the_run_started(
    tmp_path: Path, every_kind_zones: list[Zone]
) -> None:
    a_run(tmp_path / "out", every_kind_zones)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.avro").write_bytes(b"abc")
    assert verify_run(tmp_path / "out", inputs_root=tmp_path).problems == []
    (tmp_path / "in" / "a.avro").write_bytes(b"abd")
    assert [p.split(" (")[0] for p in verify_run(tmp_path / "out", inputs_root=tmp_path).problems] == [
        "input changed: in/a.avro"
    ]
    assert verify_run(tmp_path / "out").problems == [], "inputs are checked only when asked"


def test_verify_says_a_folder_without_manifest_is_incomplete(tmp_path: Path) -> None:
    (tmp_path / "incidents.jsonl").write_text("")
    result = verify_run(tmp_path)
    assert result.status == 1
    assert result.problems == [
        f"incomplete: {tmp_path} has no {MANIFEST_FILE}; the run that wrote there did not finish (or has not "
        "run), so its outputs cannot be trusted: run it again"
    ]


def test_verify_finds_counts_that_do_not_add_up(tmp_path: Path, every_kind_zones: list[Zone]) -> None:
    manifest = a_run(tmp_path, every_kind_zones)
    content = json.loads(manifest.read_text())
    content["counts"]["records_evaluated"] = 11
    content["counts"]["dead_letters_by_reason"]["truncated"] = 1
    manifest.write_text(json.dumps(content))
    assert verify_run(tmp_path).problems == [
        "counts: records read 13 != evaluated 11 + dead-lettered 3",
        "counts: dead letters by reason add up to 2, not 3",
    ]


@pytest.mark.parametrize(
    ("content", "unusable"),
    [
        ("{", "is not a readable run manifest"),
        ('{"format": "something-else"}', "is not a run manifest of format 'pilotzone-run-manifest/1'"),
        (json.dumps({"format": FORMAT, "counts": {}}), "lacks a field a run manifest has"),
    ],
)
def test_verify_refuses_what_is_not_a_manifest(tmp_path: Path, content: str, unusable: str) -> None:
    (tmp_path / MANIFEST_FILE).write_text(content)
    result = verify_run(tmp_path)
    assert result.status == 2
    assert result.unusable is not None and unusable in result.unusable


def test_verify_command_exit_status_and_messages(
    tmp_path: Path, every_kind_zones: list[Zone], capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = a_run(tmp_path / "run", every_kind_zones)
    assert main(["manifest", "verify", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().out == f"{manifest}: 2 files match, counts add up\n"
    (tmp_path / "run" / "incidents.jsonl").write_text("")
    assert main(["manifest", "verify", str(tmp_path / "run"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], [p.split(" (")[0] for p in report["problems"]]) == (
        False, ["output changed: incidents.jsonl"]
    )  # fmt: skip
    assert main(["manifest", "verify", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err == f"pilotzone manifest verify: {tmp_path / 'nothing'} does not exist\n"


def test_input_digests_keep_one_line_per_path(tmp_path: Path) -> None:
    line = {"path": "b.avro", "bytes": 1, "sha256": "00"}
    (tmp_path / "1.jsonl").write_text(json.dumps(line) + "\n" + json.dumps(line | {"path": "a.avro"}) + "\n")
    (tmp_path / "2.jsonl").write_text(json.dumps(line) + "\n")  # a retried bundle
    assert [d.path for d in read_input_digests(tmp_path)] == ["a.avro", "b.avro"]
