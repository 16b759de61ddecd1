"""``pilotzone report``: files written, what it prints, and exit 2 with what to fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.register.store import Filing, Register
from pilotzone.pipelines.reports.figures import parse_time
from pilotzone.zones import Zone
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.register import registers
from tests.pipelines.reports.runs import ZONE, incident, replay_folder, summary


@pytest.fixture
def run_dir(tmp_path: Path, every_kind_zones: list[Zone]) -> Path:
    version = every_kind_zones[0].version
    return replay_folder(
        tmp_path / "run",
        [incident(1, version=version), incident(2, minute=2, version=version)],
        [
            summary(0, "op-taxi", "ROBOTAXI", incidents={"speed_limit/MINOR": 1}),
            summary(2, "op-taxi", "ROBOTAXI", incidents={"speed_limit/MINOR": 1}),
        ],
    )


def test_writes_the_html_and_prints_the_headline(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status = main(["report", str(run_dir), "--out", str(out), "--zones", str(EVERY_KIND_ZONE), "--no-pdf"])
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["test-every-kind-report.html"]
    assert capsys.readouterr().out.splitlines() == [
        f"report: {out / 'test-every-kind-report.html'}",
        "zone test-every-kind: 1200 samples, 2 incidents, grade A",
    ]


def test_a_period_chooses_windows_and_incidents(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [
        "report",
        str(run_dir),
        "--out",
        str(out),
        "--zones",
        str(EVERY_KIND_ZONE),
        "--no-pdf",
        "--public",
    ]
    assert main([*argv, "--from", "2026-11-23T10:02+09:00", "--to", "2026-11-23T10:03+09:00"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "zone test-every-kind: 600 samples, 1 incidents, grade A"
    )
    assert (out / "test-every-kind-public-report.html").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "2026-11-23T10:00"], "give both --from and --to"),
        (["--from", "2026-11-23T10:00", "--to", "2026-11-23T09:00"], "must end after it starts"),
        (["--from", "monday", "--to", "tuesday"], "times are ISO 8601"),
        (["--zone", "sejong"], "no config for zone 'sejong'"),
        (["--k", "0"], "--k must be at least 1"),
        (["--chromium", "no-such-chromium"], "no Chromium found ('no-such-chromium')"),
        (["--filings", "missing.json"], "cannot read the filings file missing.json"),
    ],
)
def test_unusable_arguments_exit_2_saying_what_to_fix(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["report", str(run_dir), "--out", str(tmp_path / "out"), "--zones", str(EVERY_KIND_ZONE), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_folder_that_is_no_run_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out"), "--no-pdf"]) == 2
    assert "holds neither incidents.jsonl" in capsys.readouterr().err


def test_a_stream_folder_reports_each_incident_once(
    tmp_path: Path, every_kind_zones: list[Zone], capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.pipelines.reports.runs import write_jsonl

    version = every_kind_zones[0].version
    stream = tmp_path / "stream"
    write_jsonl(
        stream / "incidents" / "incidents-0101-run-a-0.jsonl",
        [
            {"status": "OPENED", **incident(1, version=version, end=None)},
            {"status": "CLOSED", **incident(1, version=version)},
        ],
    )
    write_jsonl(
        stream / "summaries" / "summaries-0101-run-a-0.jsonl",
        [summary(0, "op-taxi", "ROBOTAXI", samples=300), summary(0, "op-taxi", "ROBOTAXI", samples=600)],
    )
    out = tmp_path / "out"
    assert main(["report", str(stream), "--out", str(out), "--zones", str(EVERY_KIND_ZONE), "--no-pdf"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "zone test-every-kind: 600 samples, 1 incidents, grade A"
    )
    html = (out / "test-every-kind-report.html").read_text()
    assert html.count('class="incident-row"') == 1
    assert "Run folder layout: stream" in html


def test_reads_filings_from_the_register(tmp_path: Path, every_kind_zones: list[Zone]) -> None:
    version = every_kind_zones[0].version
    owed = incident(
        3, kind="vehicle_event", rule_id="collisions", deadline="2026-11-23T02:01:02.000Z", version=version
    )
    run = replay_folder(tmp_path / "run", [owed], [summary(1, "op-taxi", "ROBOTAXI")])
    url = f"sqlite:///{tmp_path / 'register.db'}"
    with Register.open(url) as register:
        register.upsert([registers.incident("inc0003", zone=ZONE)])
        register.file_report(
            "inc0003", Filing("KOTSA-2026-0042", "kim.operator", parse_time("2026-11-23T01:30Z"))
        )
    out = tmp_path / "out"
    argv = ["report", str(run), "--out", str(out), "--zones", str(EVERY_KIND_ZONE), "--no-pdf"]
    assert main([*argv, "--register", url]) == 0
    html = (out / "test-every-kind-report.html").read_text(encoding="utf-8")
    assert re.findall(r'class="text report-status">([^<]*)<', html) == [
        "filed: KOTSA-2026-0042 by kim.operator, 2026-11-23 10:30:00 +0900"
    ]


def test_an_unusable_register_is_exit_2(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", str(run_dir), "--out", str(tmp_path / "out"), "--zones", str(EVERY_KIND_ZONE)]
    assert main([*argv, "--no-pdf", "--register", "mysql://nowhere/db"]) == 2
    assert capsys.readouterr().err.startswith("pilotzone report: ")
