"""``pilotzone fences check`` and ``pilotzone fences publish``; ``run --fences`` refusing bad fences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.zones.fences.loader import load_fence
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.zones.fences.fence_files import SQUARE, write_fence

pytestmark = pytest.mark.fences


def test_check_prints_what_each_fence_says(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_fence(tmp_path, until="2026-04-01T06:00:00+00:00")
    assert main(["fences", "check", str(path)]) == 0
    digest = load_fence(path).digest
    assert capsys.readouterr().out == (
        f"fire-1 ({digest}): gwangju, from 2026-04-01T00:00:00+00:00 until 2026-04-01T06:00:00+00:00, "
        "exit within 120 s, CRITICAL for ROBOTAXI, SHUTTLE: warehouse fire\n"
    )


def test_check_reports_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_fence(tmp_path, reason=None, exit_within_s=-1)
    assert main(["fences", "check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "pilotzone fences check: problems:",
        f"{path}:21: exit_within_s: Input should be greater than or equal to 0 (got -1)",
        f"{path}:1: reason: required field 'reason' is missing: add it",
    ]


def test_publish_writes_a_self_contained_document_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feature = {"type": "Feature", "properties": {}, "geometry": SQUARE}
    (tmp_path / "fire.geojson").write_text(json.dumps(feature), encoding="utf-8")
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    source = write_fence(drafts, polygon={"file": "../fire.geojson"})
    watched = tmp_path / "watched"
    watched.mkdir()
    assert main(["fences", "publish", str(source), "--to", str(watched)]) == 0
    first = load_fence(source)
    name = f"fire-1.{first.digest.removeprefix('sha256:')}.json"
    assert capsys.readouterr().out.startswith(f"published {watched / name}: fire-1 (")
    assert sorted(path.name for path in watched.iterdir()) == [name]
    published = json.loads((watched / name).read_text(encoding="utf-8"))
    assert published["polygon"]["type"] == "Polygon"
    assert load_fence(watched / name).digest == first.digest
    # The same document again is the same file.
    assert main(["fences", "publish", str(source), "--to", str(watched)]) == 0
    assert sorted(path.name for path in watched.iterdir()) == [name]
    # An amendment is a version of its own, beside the one it replaces.
    amended = write_fence(drafts, "amended.yaml", polygon={"file": "../fire.geojson"}, exit_within_s=30,
                          effective_from="2026-04-01T01:00:00+00:00")  # fmt: skip
    assert main(["fences", "publish", str(amended), "--to", str(watched)]) == 0
    second = f"fire-1.{load_fence(amended).digest.removeprefix('sha256:')}.json"
    assert sorted(path.name for path in watched.iterdir()) == sorted([name, second])
    capsys.readouterr()
    assert main(["fences", "check", str(watched)]) == 0
    assert [line.split(" (")[0] for line in capsys.readouterr().out.splitlines()] == ["fire-1", "fire-1"]


def test_publish_refuses_a_bad_fence_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fence(tmp_path, vehicle_classes=["HOVERCRAFT"])
    watched = tmp_path / "watched"
    watched.mkdir()
    assert main(["fences", "publish", str(source), "--to", str(watched)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pilotzone fences publish: not published, fix these first:\n{source}:")
    assert "vehicle_classes[0]" in err
    assert list(watched.iterdir()) == []


def test_publish_refuses_a_missing_folder_and_a_second_version_from_one_moment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fence(tmp_path)
    assert main(["fences", "publish", str(source), "--to", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == (
        f"pilotzone fences publish: --to {tmp_path / 'nowhere'} is not a folder: create it, or name the monitor's one\n"
    )
    watched = tmp_path / "watched"
    watched.mkdir()
    other = write_fence(watched, "by-hand.yaml", exit_within_s=30)
    assert main(["fences", "publish", str(source), "--to", str(watched)]) == 2
    digest, other_digest = load_fence(source).digest, load_fence(other).digest
    assert capsys.readouterr().err == (
        f"pilotzone fences publish: not published: fence 'fire-1' ({digest}) and {other_digest} from {other} "
        "both take effect at 2026-04-01T00:00:00.000Z: an amendment needs a later effective_from than the "
        "version it replaces (or republish the same document)\n"
    )
    assert sorted(path.name for path in watched.iterdir()) == ["by-hand.yaml"]


def test_run_refuses_bad_fences_before_reading_telemetry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_fence(tmp_path, until="2025-01-01T00:00:00+00:00")
    status = main(["run", "--zones", str(EVERY_KIND_ZONE), "--input", str(tmp_path / "none" / "*.avro"),
                   "--incidents", str(tmp_path / "out" / "incidents.jsonl"), "--fences", str(tmp_path), "--quiet"])  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "pilotzone: the fences have problems:"
    assert err[1].startswith(f"{tmp_path / 'fire-1.yaml'}:")
    assert ": until: until (2025-01-01T00:00:00+00:00) must be later than effective_from" in err[1]


def test_stream_refuses_a_missing_fence_folder_and_bad_fences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["stream", "--zones", str(EVERY_KIND_ZONE), "--source", "folder", "--watch", str(tmp_path / "*.avro"),
              "--incidents-dir", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    assert main([*common, "--fences", str(tmp_path / "nowhere")]) == 2
    assert (
        capsys.readouterr().err
        == f"pilotzone stream: --fences {tmp_path / 'nowhere'} is not a folder: create it\n"
    )
    folder = tmp_path / "fences"
    folder.mkdir()
    write_fence(folder, vehicle_classes=[])
    assert main([*common, "--fences", str(folder)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "pilotzone: the fences have problems:"
    assert err[1].startswith(f"{folder / 'fire-1.yaml'}:") and ": vehicle_classes: " in err[1]


def test_check_shows_which_version_is_in_force_when(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_fence(tmp_path, "fire-1.yaml")
    amended = write_fence(
        tmp_path, "fire-1-v2.yaml", effective_from="2026-04-01T00:05:00+00:00", reason="spreads"
    )
    assert main(["fences", "check", str(tmp_path)]) == 0
    old, new = load_fence(first).digest, load_fence(amended).digest
    assert capsys.readouterr().out == (
        f"fire-1 ({old}): gwangju, from 2026-04-01T00:00:00+00:00 until 2026-04-01T00:05:00.000Z "
        "(a later version takes over), exit within 120 s, CRITICAL for ROBOTAXI, SHUTTLE: warehouse fire\n"
        f"fire-1 ({new}): gwangju, from 2026-04-01T00:05:00+00:00 open-ended, exit within 120 s, CRITICAL for "
        "ROBOTAXI, SHUTTLE: spreads\n"
    )
    write_fence(tmp_path, "fire-1-v3.yaml", effective_from="2026-04-01T00:05:00+00:00", reason="flood")
    assert main(["fences", "check", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "pilotzone fences check: problems:"
    assert err[1].startswith(f"{tmp_path / 'fire-1-v3.yaml'}: effective_from: fence 'fire-1' (")
    assert err[1].endswith(
        f"and {new} from {amended} both take effect at 2026-04-01T00:05:00.000Z: an amendment needs a later "
        "effective_from than the version it replaces (or republish the same document)"
    )
    assert len(err) == 2


def test_publish_to_a_malformed_kafka_address_is_refused_before_reading_the_fence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fence(tmp_path)
    assert main(["fences", "publish", str(source), "--to", "kafka://127.0.0.1/fences"]) == 2
    assert capsys.readouterr().err == (
        "pilotzone fences publish: --to kafka://127.0.0.1/fences is not kafka://HOST:PORT/TOPIC "
        "(a topic name is letters, digits, '.', '_' and '-')\n"
    )


def test_stream_refuses_a_fence_topic_without_the_kafka_source_or_with_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["stream", "--zones", str(EVERY_KIND_ZONE), "--incidents-dir", str(tmp_path / "out"), "--quiet"]
    folder_source = ["--source", "folder", "--watch", str(tmp_path / "*.avro")]
    assert main([*common, *folder_source, "--fences-topic", "fences"]) == 2
    assert capsys.readouterr().err == (
        "pilotzone stream: --fences-topic needs --source kafka (fences are read from the telemetry's broker)\n"
    )
    (tmp_path / "fences").mkdir()
    kafka_source = ["--source", "kafka", "--kafka-bootstrap", "127.0.0.1:9", "--kafka-topic", "telemetry"]
    assert (
        main([*common, *kafka_source, "--fences-topic", "fences", "--fences", str(tmp_path / "fences")]) == 2
    )
    assert capsys.readouterr().err == (
        "pilotzone stream: give --fences DIR or --fences-topic TOPIC, not both\n"
    )
