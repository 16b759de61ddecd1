"""``pilotzone validate``: reports, JSON shape and exit status on clean, bad and corrupt input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.registry import avro_fingerprint
from pilotzone.schemas.validate import validate_files
from tests.factories import (
    confluent_message,
    container_bytes,
    sample,
    single_object_message,
    track,
    write_container,
)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["validate", *args])
    return status, capsys.readouterr().out


def test_clean_files_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_container(tmp_path / "a.avro", track(30, vehicle_id="veh-a"))
    write_container(tmp_path / "b.avro", track(30, vehicle_id="veh-b"), codec="null")
    status, out = _run(capsys, str(tmp_path))
    assert status == 0
    assert (
        out.splitlines()[0]
        == "OK: 2 file(s), 60 record(s) read, 60 decoded, 0 undecodable, 0 failing record checks"
    )


def test_findings_exit_1_and_json_locates_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = track(6)
    records[2] = dict(records[2], current_location_latitude=math.nan)
    records[5] = dict(records[5], sequence_number=4)
    path = write_container(tmp_path / "bad.avro", records)
    status, out = _run(capsys, "--json", str(path))
    report = json.loads(out)
    assert status == 1
    assert report["ok"] is False
    assert report["summary"] == {
        "files": 1,
        "records_read": 6,
        "records_decoded": 6,
        "records_undecodable": 0,
        "records_failing_checks": 1,
        "findings": {"duplicate_sequence": 1, "nan": 1},
    }
    assert [(i["check"], i["record"], i["severity"]) for i in report["issues"]] == [
        ("nan", 2, "error"),
        ("duplicate_sequence", 5, "warning"),
    ]
    assert report["files"][0]["codec"] == "deflate"
    assert report["files"][0]["writer_schema"] == "kr.pilotzone.telemetry.TelemetrySample"


def test_corrupt_truncated_and_unreadable_files_never_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = container_bytes(track(300), sync_interval=700)
    (tmp_path / "truncated.avro").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.avro").write_bytes(b"GARBAGE!" * 128)
    status, out = _run(capsys, "--json", str(tmp_path))
    report = json.loads(out)
    assert status == 1
    checks = report["summary"]["findings"]
    assert set(checks) == {"truncated", "not_avro"}
    summary = report["summary"]
    assert summary["records_read"] == summary["records_decoded"] + summary["records_undecodable"]


def test_a_file_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_container(tmp_path / "a.avro", track(3))
    status = main(["validate", str(tmp_path / "a.avro"), str(tmp_path / "absent.avro")])
    captured = capsys.readouterr()
    assert (status, captured.out) == (2, "")
    assert captured.err == f"pilotzone validate: {tmp_path / 'absent.avro'}: no such file or folder\n"


def test_framed_messages_and_extra_schemas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.bin").write_bytes(confluent_message(sample(), schema_id=1))
    v2 = schema_dict(TELEMETRY)
    v2["fields"].append({"name": "cabin_temperature", "type": ["null", "float"], "default": None})
    (tmp_path / "v2.avsc").write_text(json.dumps(v2))
    (tmp_path / "two.msg").write_bytes(single_object_message(sample(sequence_number=1), v2))
    (tmp_path / "three.bin").write_bytes(
        confluent_message(sample(sequence_number=2), schema_id=900, schema=v2)
    )
    status, out = _run(capsys, str(tmp_path))
    assert status == 1
    fingerprint = avro_fingerprint(v2).hex()
    assert out.splitlines() == [
        "NOT OK: 3 file(s), 3 record(s) read, 1 decoded, 2 undecodable, 0 failing record checks",
        "contract: kr.pilotzone.telemetry.TelemetrySample version 1",
        f"  {tmp_path / 'one.bin'}: 1/1 decoded (confluent)",
        f"  {tmp_path / 'three.bin'}: 0/1 decoded (confluent)",
        f"  {tmp_path / 'two.msg'}: 0/1 decoded (single-object)",
        "unknown_schema (2, error):",
        f"  {tmp_path / 'three.bin'} @ byte 0: schema id 900 is not known: "
        "pass the writer schema with --schema-id 900=FILE.avsc",
        f"  {tmp_path / 'two.msg'} @ byte 0: schema fingerprint {fingerprint} is not known: "
        "pass the writer schema with --schema FILE.avsc",
    ]
    status, out = _run(
        capsys,
        "--schema",
        str(tmp_path / "v2.avsc"),
        "--schema-id",
        f"900={tmp_path / 'v2.avsc'}",
        str(tmp_path),
    )
    assert (status, out.splitlines()[0]) == (
        0,
        "OK: 3 file(s), 3 record(s) read, 3 decoded, 0 undecodable, 0 failing record checks",
    )


def test_bad_schema_option_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--schema-id", "x.avsc", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "pilotzone validate: --schema-id 'x.avsc': write it as ID=FILE.avsc, for example 42=telemetry.avsc\n"
    )


def test_stream_checks_span_files_of_one_vehicle(tmp_path: Path) -> None:
    records = track(10)
    write_container(tmp_path / "part1.avro", records[:5])
    write_container(tmp_path / "part2.avro", records[4:])
    report = validate_files([tmp_path / "part1.avro", tmp_path / "part2.avro"])
    assert [(i.file.endswith("part2.avro"), i.check, i.record) for i in report.issues] == [
        (True, "duplicate_sequence", 0),
    ]


def test_manual_at_an_automated_sae_level_is_flagged(tmp_path: Path) -> None:
    records = track(3)
    records[1] = {**records[1], "driving_mode": "MANUAL"}  # still active_autonomy_level 4
    report = validate_files([write_container(tmp_path / "a.avro", records)])
    assert not report.ok
    assert [(i.check, i.record, i.severity) for i in report.issues] == [("inconsistent_mode", 1, "error")]


def test_a_type_mismatch_names_the_field(tmp_path: Path) -> None:
    schema = schema_dict(TELEMETRY)
    for field in schema["fields"]:
        if field["name"] == "speed":
            field["type"] = "string"
    records = [{**r, "speed": "fast"} for r in track(2)]
    report = validate_files([write_container(tmp_path / "a.avro", records, schema=schema)])
    (issue,) = report.issues
    assert (issue.check, issue.records) == ("schema_mismatch", 2)
    assert issue.message.endswith("Schema mismatch: string is not float (fields: speed: string -> float)")


def test_hostile_ids_levels_and_times_are_findings_not_crashes(tmp_path: Path) -> None:
    records = track(5)
    records[0] = {**records[0], "vehicle_id": "veh-test-0001\x00"}
    records[1] = {**records[1], "active_autonomy_level": 2**31 - 1}
    records[2] = {**records[2], "current_location_timestamp": 2**63 - 1}
    records[3] = {**records[3], "operator_id": "o" * 1_000_000}
    report = validate_files([write_container(tmp_path / "a.avro", records)])
    errors = [(i.check, i.record) for i in report.issues if i.severity == "error"]
    assert errors == [("invalid_id", 0), ("out_of_range", 1), ("out_of_range", 2), ("id_too_long", 3)]
    assert report.files[0].records_failing_checks == 4


@pytest.mark.parametrize(
    ("schema_text", "why"),
    [
        ('{"type": "array", "items": ' * 5_000 + '"int"' + "}" * 5_000, "nests deeper than 32 levels"),
        ('"int"', "is 'int', not a record"),
        ('{"type": "record"}', "has a record without a name"),
    ],
)
def test_an_unusable_extra_schema_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], schema_text: str, why: str
) -> None:
    (tmp_path / "w.avsc").write_text(schema_text)
    write_container(tmp_path / "a.avro", track(2))
    status = main(["validate", "--schema-id", f"7={tmp_path / 'w.avsc'}", str(tmp_path / "a.avro")])
    assert (status, capsys.readouterr().err) == (
        2,
        f"pilotzone validate: cannot use schema file {tmp_path / 'w.avsc'}: {why}\n",
    )
