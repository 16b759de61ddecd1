"""``pilotzone zones import-mds`` / ``export-mds`` from the command line: files, reports, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import build_parser
from pilotzone.zones import load_zone
from tests.zones.mds.material import MDS_CORE, SPEC_EXAMPLES, la_geographies


def run(argv: list[str]) -> tuple[int, str]:
    args = build_parser().parse_args(argv)
    out = io.StringIO()
    return args.func(args, out), out.getvalue()


def test_import_writes_a_loadable_zone_and_a_json_report(tmp_path: Path) -> None:
    geographies = tmp_path / "la.json"
    geographies.write_text(json.dumps(la_geographies()), "utf-8")
    code, out = run(
        [
            "zones",
            "import-mds",
            str(MDS_CORE / "test_data" / "speed_policy.json"),
            str(geographies),
            "--out",
            str(tmp_path / "zones"),
            "--timezone",
            "America/Los_Angeles",
            "--lenient",
            "--json",
            "--map-vehicle-type",
            "bicycle=OTHER",
            "--map-vehicle-type",
            "scooter=DELIVERY_ROBOT",
            "--zone-id",
            "la",
        ]
    )
    assert code == 0
    report = json.loads(out)
    [policy] = report["policies"]
    assert (policy["status"], policy["zone_id"]) == ("imported", "la")
    assert policy["rules"][0]["imported_as"] == "speed_limit rule 2aa6953d-fa8f-4018-9b54-84c8b4b83c6d"
    zone = load_zone(tmp_path / "zones" / "la.yaml")
    assert [str(c) for c in zone.rules[0].applies.vehicle_classes or []] == ["DELIVERY_ROBOT", "OTHER"]


def test_strict_import_of_a_spec_example_exits_2_with_the_schema_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(
        [
            "zones",
            "import-mds",
            str(SPEC_EXAMPLES / "speed-limits.json"),
            str(SPEC_EXAMPLES.parent / "geography-examples" / "stop.json"),
            "--out",
            str(tmp_path),
            "--timezone",
            "America/Los_Angeles",
        ]
    )
    assert code == 2
    assert "schema 1.2.0: updated: 0 is less than the minimum of 1514764800000" in capsys.readouterr().err


def test_strict_refusal_is_machine_readable_with_json(tmp_path: Path) -> None:
    code, out = run(
        [
            "zones",
            "import-mds",
            str(SPEC_EXAMPLES / "idle-time.json"),
            str(SPEC_EXAMPLES.parent / "geography-examples" / "stop.json"),
            "--out",
            str(tmp_path),
            "--timezone",
            "America/Los_Angeles",
            "--json",
        ]
    )
    assert code == 2
    assert json.loads(out)["problems"] == [
        "schema 1.2.0: updated: 0 is less than the minimum of 1514764800000",
        "fix the document, or pass --lenient to read it anyway and list what was forgiven",
    ]


def test_a_refused_policy_exits_1(tmp_path: Path) -> None:
    code, out = run(
        [
            "zones",
            "import-mds",
            str(SPEC_EXAMPLES / "per-trip-fees.json"),
            str(SPEC_EXAMPLES.parent / "geography-examples" / "stop.json"),
            "--out",
            str(tmp_path),
            "--timezone",
            "America/Los_Angeles",
            "--lenient",
        ]
    )
    assert code == 1
    assert (
        "REFUSED" in out
        and "geography b4bcc213-4888-48ce-a33d-4dd6c3384bda is not in the geographies given" in out
    )


def test_export_writes_policy_and_geographies(tmp_path: Path) -> None:
    config = Path(__file__).parents[3] / "zones" / "configs" / "sejong.yaml"
    code, out = run(
        [
            "zones",
            "export-mds",
            str(config),
            "--out",
            str(tmp_path),
            "--published-ms",
            "1764547200000",
            "--json",
        ]
    )
    assert code == 0
    [report] = json.loads(out)
    assert report["files"] == [
        str(tmp_path / "sejong.policy.json"),
        str(tmp_path / "sejong.geographies.json"),
    ]
