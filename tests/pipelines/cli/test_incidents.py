"""``pilotzone incidents list|show|file|metrics`` on a SQLite register: what an operator sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.register.store import Register
from pilotzone.zones.evaluate import rfc3339_ms
from tests.factories import T0_MS
from tests.pipelines.register.registers import HOUR_MS, dwell, incident

NOW = rfc3339_ms(T0_MS + 30 * HOUR_MS)
"""The desk's moment: 30 h after T0, past a 24 h deadline and before a 72 h one."""


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A register with a collision (24 h, overdue at NOW), a disengagement (72 h, due), an MRM
    of another operator (24 h, filed on time) and a dwell (no report)."""
    url = f"sqlite:///{tmp_path / 'register.db'}"
    with Register.open(url) as register:
        register.upsert(
            [
                incident("collision-1"),
                incident(
                    "diseng-1",
                    rule_id="event-disengagement",
                    severity="MINOR",
                    start_ms=T0_MS + HOUR_MS,
                    deadline_ms=T0_MS + 73 * HOUR_MS,
                    explanation="DISENGAGEMENT reported",
                ),
                incident(
                    "mrm-1",
                    rule_id="event-minimal-risk-manoeuvre",
                    severity="MAJOR",
                    operator="gwangju-shuttle-b",
                    start_ms=T0_MS + 2 * HOUR_MS,
                    deadline_ms=T0_MS + 26 * HOUR_MS,
                ),
                dwell("UPDATED", 423.0, 423),
            ]
        )
    assert main(["incidents", "file", "mrm-1", "--register", url, "--reference", "KOTSA-7", "--by", "park",
                 "--at", rfc3339_ms(T0_MS + 3 * HOUR_MS)]) == 0  # fmt: skip
    return url


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    capsys.readouterr()
    assert main(["incidents", "list", *args, "--now", NOW, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_says_what_each_incident_owes_as_of_now(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = listed(capsys, "--register", url)
    assert [(row["incident_id"], row["report"]["status"]) for row in rows] == [
        ("collision-1", "overdue"),
        ("dwell-1", "not_required"),
        ("diseng-1", "due"),
        ("mrm-1", "filed"),
    ]
    collision, dwelling, _, mrm = rows
    assert collision["report"] == {
        "status": "overdue",
        "deadline": rfc3339_ms(T0_MS + 24 * HOUR_MS),
        "overdue_s": 6 * 3600.0,
        "reference": None,
        "filed_by": None,
        "filed_at": None,
        "filed_late": None,
        "as_of": NOW,
    }
    assert (mrm["report"]["reference"], mrm["report"]["filed_by"], mrm["report"]["filed_late"]) == (
        "KOTSA-7",
        "park",
        False,
    )
    assert (dwelling["peak_value"], dwelling["end_time"], dwelling["lifecycle_status"]) == (
        423.0,
        None,
        "UPDATED",
    )
    assert collision["start_time"] == rfc3339_ms(T0_MS) and collision["vehicle_class"] == "ROBOTAXI"


def test_list_filters(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ids = lambda *args: [row["incident_id"] for row in listed(capsys, "--register", url, *args)]  # noqa: E731
    assert ids("--status", "overdue", "--status", "due") == ["collision-1", "diseng-1"]
    assert ids("--operator", "gwangju-shuttle-b") == ["mrm-1"]
    assert ids("--severity", "minor") == ["dwell-1", "diseng-1"]
    assert ids("--zone", "sejong") == []


def test_deadlines_are_judged_as_of_the_moment_asked(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert (
        main(["incidents", "list", "--register", url, "--now", rfc3339_ms(T0_MS + 24 * HOUR_MS), "--json"])
        == 0
    )
    at_the_deadline = json.loads(capsys.readouterr().out)
    assert at_the_deadline[0]["report"]["status"] == "due"  # due up to and including its deadline


def test_list_as_text_ends_with_the_counts(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["incidents", "list", "--register", url, "--now", NOW]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert "OVERDUE since 2026-11-24 01:00:00 (6.0 h)" in lines[1]
    assert "not required" in lines[2]
    assert "filed 2026-11-23 04:00:00 as KOTSA-7 by park" in lines[4]
    assert lines[-1] == "4 incidents: 1 due, 1 overdue, 1 filed, 1 not required"


def test_show_and_file(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["incidents", "show", "collision-1", "--register", url, "--now", NOW]) == 0
    assert "report       OVERDUE since 2026-11-24 01:00:00 (6.0 h)" in capsys.readouterr().out
    late = rfc3339_ms(T0_MS + 29 * HOUR_MS)
    assert main(["incidents", "file", "collision-1", "--register", url, "--reference", "KOTSA-9", "--by", "kim",
                 "--at", late]) == 0  # fmt: skip
    assert capsys.readouterr().out == "filed: incident collision-1 as KOTSA-9 by kim (after the deadline)\n"
    assert main(["incidents", "show", "collision-1", "--register", url, "--now", NOW, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert (report["status"], report["filed_at"], report["filed_late"]) == ("filed", late, True)


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["show", "nope"], 1, "no incident 'nope' in the register"),
        (["file", "dwell-1", "--reference", "R", "--by", "kim"], 2, "requires no report"),
        (["file", "mrm-1", "--reference", "OTHER", "--by", "kim"], 2, "already filed as 'KOTSA-7' by park"),
        (["file", "collision-1", "--reference", " ", "--by", "kim"], 2, "needs a non-empty --reference"),
    ],
)
def test_refusals_say_what_to_fix(
    url: str, capsys: pytest.CaptureFixture[str], args: list[str], status: int, message: str
) -> None:
    capsys.readouterr()
    assert main(["incidents", *args, "--register", url]) == status
    assert message in capsys.readouterr().err


def test_an_unusable_register_or_time_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incidents", "list", "--register", "mysql://db/x"]) == 2
    assert "use sqlite:///FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["incidents", "list", "--register", str(tmp_path / "r.db"), "--now", "yesterday"])
    assert exited.value.code == 2
    assert "'yesterday' is not a time like 2026-11-24T09:00:00Z" in capsys.readouterr().err


def test_metrics_count_reports_per_zone_operator_and_severity(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["incidents", "metrics", "--register", url, "--now", NOW]) == 0
    text = capsys.readouterr().out
    got = {
        (sample.name, sample.labels["operator"], sample.labels["severity"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    robotaxi, shuttle = "gwangju-robotaxi-a", "gwangju-shuttle-b"
    assert got == {
        ("pilotzone_reports_outstanding", robotaxi, "CRITICAL"): 0.0,
        ("pilotzone_reports_outstanding", robotaxi, "MINOR"): 1.0,
        ("pilotzone_reports_outstanding", shuttle, "MAJOR"): 0.0,
        ("pilotzone_reports_overdue", robotaxi, "CRITICAL"): 1.0,
        ("pilotzone_reports_overdue", robotaxi, "MINOR"): 0.0,
        ("pilotzone_reports_overdue", shuttle, "MAJOR"): 0.0,
        ("pilotzone_reports_filed", robotaxi, "CRITICAL"): 0.0,
        ("pilotzone_reports_filed", robotaxi, "MINOR"): 0.0,
        ("pilotzone_reports_filed", shuttle, "MAJOR"): 1.0,
    }
    assert "vehicle" not in text
