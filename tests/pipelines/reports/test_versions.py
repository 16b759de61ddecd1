"""A report over a run judged by a config history: every version in force, and the figures split."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.reports.content import ReportError, ReportRequest, build_report
from pilotzone.pipelines.reports.figures import Period, parse_time
from pilotzone.pipelines.reports.html import render_html
from pilotzone.pipelines.reports.rundir import read_run_folder
from pilotzone.pipelines.reports.versions import versions_in_period
from pilotzone.zones import Zone, load_zones
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.reports.runs import incident, replay_folder, summary

pytestmark = pytest.mark.fences

CHANGE = "2026-11-23T10:01:30+09:00"
"""01:01:30 UTC: the second version (a 40 km/h zone limit) takes effect half-way through minute 1."""


@pytest.fixture
def history(tmp_path: Path) -> list[Zone]:
    text = EVERY_KIND_ZONE.read_text(encoding="utf-8")
    folder = tmp_path / "history"
    folder.mkdir()
    (folder / "1.yaml").write_text(f"{text}\nuntil: {CHANGE}\n", encoding="utf-8")
    stricter = text.replace(
        "id: speed-zone, kind: speed_limit, limit_kmh: 50", "id: speed-zone, kind: speed_limit, limit_kmh: 40"
    )
    assert stricter != text
    (folder / "2.yaml").write_text(f"{stricter}\neffective_from: {CHANGE}\n", encoding="utf-8")
    return load_zones([folder])


def history_run(folder: Path, old: str, new: str) -> Path:
    """Minute 0 under the first version, minute 1 cut by the change, minute 2 under the second."""
    return replay_folder(
        folder,
        [
            incident(1, minute=0, version=old),
            incident(2, minute=1, version=new),
            incident(3, minute=2, version=new),
            incident(
                4, minute=2, kind="emergency_fence", rule_id="fence:fire-1", version="sha256:fe0cefe0cefe0ce0"
            ),
        ],
        [
            summary(
                0,
                "op-taxi",
                "ROBOTAXI",
                version=old,
                samples=600,
                vehicles=10,
                distance={"AUTONOMOUS": 1000.0},
            ),
            summary(
                1,
                "op-taxi",
                "ROBOTAXI",
                version=old,
                samples=300,
                vehicles=10,
                distance={"AUTONOMOUS": 400.0},
            ),
            summary(
                1,
                "op-taxi",
                "ROBOTAXI",
                version=new,
                samples=300,
                vehicles=0,
                distance={"AUTONOMOUS": 500.0},
                violations={"speed-zone": 30.0},
            ),
            summary(
                2,
                "op-taxi",
                "ROBOTAXI",
                version=new,
                samples=600,
                vehicles=10,
                distance={"AUTONOMOUS": 1100.0},
            ),
        ],
    )


def cells(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table class="{table}">.*?<tbody>(.*?)</tbody>', html)
    assert body is not None
    return [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))
    ]


def test_versions_in_period_by_start(history: list[Zone]) -> None:
    old, new = history
    assert versions_in_period(
        [new, old], Period(parse_time("2026-11-23T01:00:00Z"), parse_time("2026-11-23T01:03:00Z"))
    ) == [old, new]
    assert versions_in_period(history, Period(parse_time("2026-11-23T01:00:00Z"), parse_time(CHANGE))) == [
        old
    ]
    assert versions_in_period(history, Period(parse_time(CHANGE), parse_time("2026-11-23T01:03:00Z"))) == [
        new
    ]


def test_the_report_lists_every_version_in_force_and_splits_the_figures(
    tmp_path: Path, history: list[Zone]
) -> None:
    old, new = history
    run = read_run_folder(history_run(tmp_path / "run", old.version, new.version))
    # The fence's digest is not a zone version; the summaries' versions are recorded.
    assert run.config_versions == {"test-every-kind": {old.version, new.version}}
    content = build_report(
        run, ReportRequest(new, history=(old, new), as_of_ms=parse_time("2026-11-24T00:00:00Z"))
    )
    assert content.versions == [old, new]
    html = render_html(content)
    assert cells(html, "versions") == [
        [f"<code>{old.version}</code>", f"until {CHANGE}", "900", "1.4", "1.4", "0.0", "1.0000", "1"],
        [f"<code>{new.version}</code>", f"from {CHANGE} onwards", "900", "1.6", "1.6", "30.0", "0.9746", "2"],
    ]
    # The zone's totals are the versions' sums, and the vehicles are counted once per minute.
    assert (content.total.samples, content.total.km(), content.total.min_vehicles) == (1800, 3.0, 10)
    rules = re.search(r'<section id="rules">(.*?)</section>', html)
    assert rules is not None
    assert (
        f"The rules changed during the period: 2 config versions were in force, each judging the samples of "
        f"its time: <code>{old.version}</code> (until {CHANGE}), <code>{new.version}</code> (from {CHANGE} onwards)."
        in rules.group(1)
    )
    assert re.findall(r'<div class="version" data-version="([^"]+)"><h3>(.*?)</h3>', rules.group(1)) == [
        (old.version, f"Version <code>{old.version}</code>, in force until {CHANGE}"),
        (new.version, f"Version <code>{new.version}</code>, in force from {CHANGE} onwards"),
    ]
    speed = re.findall(r'data-rule="speed-zone">.*?<dt>Rule</dt><dd>([^<]*)</dd>', rules.group(1))
    assert speed == ["50 km/h (+5 tolerance)", "40 km/h (+5 tolerance)"]
    assert f"Config versions <code>{old.version}</code> (until {CHANGE}), <code>{new.version}</code>" in html
    # A period inside one version: that version only, and no split.
    late = build_report(
        run,
        ReportRequest(
            new, Period(parse_time(CHANGE), parse_time("2026-11-23T01:03:00Z")), history=(old, new)
        ),
    )
    assert (late.versions, late.by_version) == ([new], [])


def test_the_public_report_withholds_a_split_about_fewer_than_k_vehicles(
    tmp_path: Path, history: list[Zone]
) -> None:
    old, new = history
    run = read_run_folder(history_run(tmp_path / "run", old.version, new.version))
    html = render_html(build_report(run, ReportRequest(new, public=True, k=11, history=(old, new))))
    assert [row[2] for row in cells(html, "versions")] == [
        "suppressed (fewer than k vehicles under a version)"
    ] * 2
    html = render_html(build_report(run, ReportRequest(new, public=True, k=5, history=(old, new))))
    assert [row[2] for row in cells(html, "versions")] == ["900", "900"]


def test_a_history_missing_a_version_the_run_used_is_refused(tmp_path: Path, history: list[Zone]) -> None:
    old, new = history
    run = read_run_folder(history_run(tmp_path / "run", old.version, "sha256:0000000000000000"))
    with pytest.raises(ReportError) as caught:
        build_report(run, ReportRequest(new, history=(old, new)))
    assert str(caught.value) == (
        "the run evaluated zone test-every-kind with config sha256:0000000000000000, which is not among the 2 "
        f"versions given ({old.version}, {new.version}): pass --zones with every version of the history the run used"
    )


def test_pilotzone_report_over_a_history_folder(
    tmp_path: Path, history: list[Zone], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = history
    run_dir = history_run(tmp_path / "run", old.version, new.version)
    argv = [
        "report",
        str(run_dir),
        "--out",
        str(tmp_path / "out"),
        "--zones",
        str(tmp_path / "history"),
        "--no-pdf",
    ]
    assert main([*argv, "--as-of", "2026-11-24T00:00:00Z"]) == 0
    html = (tmp_path / "out" / "test-every-kind-report.html").read_text(encoding="utf-8")
    assert [row[0] for row in cells(html, "versions")] == [
        f"<code>{old.version}</code>",
        f"<code>{new.version}</code>",
    ]


def test_the_printed_compliance_summary_names_every_version_and_no_fence(
    tmp_path: Path, history: list[Zone]
) -> None:
    from pilotzone.pipelines.jobs.report import compliance_summary, read_jsonl

    old, new = history
    run_dir = history_run(tmp_path / "run", old.version, new.version)
    text = compliance_summary(
        read_jsonl(run_dir / "incidents.jsonl"), read_jsonl(run_dir / "summaries.jsonl"), [], {}
    )
    assert (
        text.splitlines()[1]
        == f"zone test-every-kind (config {', '.join(sorted([old.version, new.version]))})"
    )
