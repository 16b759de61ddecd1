"""The HTML document: what it shows for a run folder, internal and public, and what it refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pilotzone.pipelines.reports.content import ReportError, ReportRequest, build_report
from pilotzone.pipelines.reports.figures import parse_time
from pilotzone.pipelines.reports.filings import Filing, FilingsFile
from pilotzone.pipelines.reports.html import render_html
from pilotzone.pipelines.reports.rundir import read_run_folder
from pilotzone.zones import Zone
from tests.pipelines.reports.runs import incident, replay_folder, summary

AS_OF = parse_time("2026-11-24T12:00:00Z")


@pytest.fixture
def run_dir(tmp_path: Path, every_kind_zones: list[Zone]) -> Path:
    version = every_kind_zones[0].version
    incidents = [
        incident(1, minute=0, version=version, lon=126.8401, lat=35.1502),
        incident(
            2,
            minute=1,
            kind="vehicle_event",
            rule_id="collisions",
            severity="CRITICAL",
            deadline="2026-11-23T02:01:02.000Z",
            version=version,
            lon=126.8602,
            lat=35.1601,
        ),
        incident(
            3,
            minute=1,
            kind="vehicle_event",
            rule_id="disengagements",
            deadline="2026-11-24T01:01:03.000Z",
            version=version,
            end=None,
            lon=126.8703,
            lat=35.1702,
        ),
    ]
    summaries = [
        summary(0, "op-taxi", "ROBOTAXI", vehicles=12, incidents={"speed_limit/MINOR": 1}),
        summary(
            1,
            "op-taxi",
            "ROBOTAXI",
            vehicles=12,
            incidents={"vehicle_event/CRITICAL": 1, "vehicle_event/MINOR": 1},
            disengagements=1,
        ),
        summary(0, "op-robots", "DELIVERY_ROBOT", vehicles=3, samples=180, distance={"AUTONOMOUS": 90.0}),
    ]
    return replay_folder(tmp_path / "run", incidents, summaries)


def report(run_dir: Path, zone: Zone, **options: object) -> str:
    content = build_report(read_run_folder(run_dir), ReportRequest(zone, as_of_ms=AS_OF, **options))  # type: ignore[arg-type]
    return render_html(content)


def test_the_internal_report_lists_every_incident_once_on_the_map_and_in_the_table(
    run_dir: Path, every_kind_zones: list[Zone]
) -> None:
    html = report(run_dir, every_kind_zones[0])
    assert re.findall(r'class="incident-marker" data-incident="(\d+)"', html) == ["1", "2", "3"]
    assert re.findall(r'class="incident-row" data-incident="\d+" data-id="(\w+)"', html) == [
        "inc0001",
        "inc0002",
        "inc0003",
    ]
    assert html.count("veh-0002") == 1
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_deadlines_and_filing_status(run_dir: Path, every_kind_zones: list[Zone]) -> None:
    statuses = re.findall(r'class="text report-status">([^<]*)<', report(run_dir, every_kind_zones[0]))
    assert statuses == ["not required", "not recorded", "not recorded"]
    filed = FilingsFile(
        {"inc0002": Filing("KR-2026-0001", "op-taxi safety desk", parse_time("2026-11-23T01:30Z"))}
    )
    html = report(run_dir, every_kind_zones[0], filings=filed)
    assert re.findall(r'class="text report-status">([^<]*)<', html) == [
        "not required",
        "filed: KR-2026-0001 by op-taxi safety desk, 2026-11-23 10:30:00 +0900",
        "overdue",
    ]
    before = build_report(
        read_run_folder(run_dir),
        ReportRequest(every_kind_zones[0], filings=filed, as_of_ms=parse_time("2026-11-24T01:01:03Z")),
    )
    assert [ob.status for ob in before.obligations] == ["not_required", "filed", "due"]
    assert ">2026-11-23 11:01 (1 h)<" in html


def test_the_group_table_and_the_grade(run_dir: Path, every_kind_zones: list[Zone]) -> None:
    html = report(run_dir, every_kind_zones[0])
    taxi = re.search(r'data-operator="op-taxi" data-class="ROBOTAXI">(.*?)</tr>', html)
    assert taxi is not None
    assert re.findall(r"<td>([^<]*)</td>", taxi.group(1)) == [
        "op-taxi",
        "ROBOTAXI",
        "1,200",
        "2.00",
        "2.00",
        "1.0000",
        "3",
        "1",
        "500.0",
        "0",
        "0.0",
    ]
    assert '<div class="grade" id="zone-grade">A</div>' in html  # 2.09 km: only compliance is rated


def test_the_public_report_names_no_vehicle_and_withholds_small_groups(
    run_dir: Path, every_kind_zones: list[Zone]
) -> None:
    html = report(run_dir, every_kind_zones[0], public=True, k=10)
    assert "veh-" not in html
    assert "inc000" not in html
    assert "incident-marker" not in html
    assert "126.84" not in html and "35.15" not in html
    robots = re.search(r'data-operator="op-robots" data-class="DELIVERY_ROBOT">(.*?)</tr>', html)
    taxi = re.search(r'data-operator="op-taxi" data-class="ROBOTAXI">(.*?)</tr>', html)
    assert robots is not None and taxi is not None
    # robots (3 vehicles) is withheld, and taxi with it: the total would give robots away
    # samples, km autonomous, km total, compliance ratio
    assert robots.group(1).count(">suppressed<") == 4
    assert taxi.group(1).count(">suppressed<") == 4
    # three incidents by three vehicles: every non-zero cell and the total are withheld
    assert 'id="incident-count"' not in html
    assert len(re.findall(r'class="grid-cell suppressed"', html)) == 3
    owed = re.search(r'<table class="public-reports">.*?<tbody>(.*?)</tbody>', html)
    assert owed is not None
    assert re.findall(r"<td[^>]*>([^<]*)</td>", owed.group(1)) == [
        "not recorded",
        "suppressed",
        "total",
        "suppressed",
    ]
    # with k = 2 the two incidents owing a report (two vehicles) may be counted
    owed_k2 = re.search(
        r'<table class="public-reports">.*?<tbody>(.*?)</tbody>',
        report(run_dir, every_kind_zones[0], public=True, k=2),
    )
    assert owed_k2 is not None
    assert re.findall(r"<td[^>]*>([^<]*)</td>", owed_k2.group(1)) == ["not recorded", "2", "total", "2"]


def test_a_run_made_with_another_config_version_is_refused(
    run_dir: Path, every_kind_zones: list[Zone]
) -> None:
    (run_dir / "incidents.jsonl").write_text(
        (run_dir / "incidents.jsonl")
        .read_text()
        .replace(every_kind_zones[0].version, "sha256:0000000000000000")
    )
    with pytest.raises(ReportError, match="with config sha256:0000000000000000, but the config given"):
        report(run_dir, every_kind_zones[0])


def test_a_zone_with_fewer_than_k_vehicles_gets_no_public_grade(
    run_dir: Path, every_kind_zones: list[Zone]
) -> None:
    html = report(run_dir, every_kind_zones[0], public=True, k=20)  # 15 vehicles at most in one minute
    assert '<div class="grade" id="zone-grade">–</div>' in html
    assert "The zone's totals are suppressed" in html
    grade_rows = re.search(r'<table class="grade-criteria">.*?<tbody>(.*?)</tbody>', html)
    assert grade_rows is not None
    assert re.findall(r"<td[^>]*>([^<]*)</td>", grade_rows.group(1))[1::4] == ["suppressed"] * 3
