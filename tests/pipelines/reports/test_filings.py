"""Reporting obligations: deadline, and filing status read from a register export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.pipelines.register.store import Register, RegisterError
from pilotzone.pipelines.reports.figures import parse_time
from pilotzone.pipelines.reports.filings import (
    DUE,
    FILED,
    NOT_RECORDED,
    NOT_REQUIRED,
    OVERDUE,
    Filing,
    FilingsError,
    FilingsFile,
    RegisterFilings,
    obligation,
)
from tests.pipelines.register import registers
from tests.pipelines.reports.runs import incident

DEADLINE = "2026-11-24T01:01:01.000Z"
WITH_DEADLINE = incident(1, kind="vehicle_event", rule_id="disengagements", deadline=DEADLINE, version="v")


def test_without_a_deadline_no_report_is_required() -> None:
    assert obligation(incident(2, version="v"), FilingsFile({}), 0).status == NOT_REQUIRED


def test_without_a_filing_source_the_status_is_not_recorded_never_overdue() -> None:
    result = obligation(WITH_DEADLINE, None, parse_time("2027-01-01"))
    assert (result.status, result.deadline_ms) == (NOT_RECORDED, parse_time(DEADLINE))


def test_due_until_the_deadline_then_overdue() -> None:
    source = FilingsFile({})
    assert obligation(WITH_DEADLINE, source, parse_time(DEADLINE)).status == DUE
    assert obligation(WITH_DEADLINE, source, parse_time(DEADLINE) + 1).status == OVERDUE


def test_filed_late_is_told_apart() -> None:
    late = Filing("KR-1", "ops", parse_time(DEADLINE) + 1000)
    result = obligation(WITH_DEADLINE, FilingsFile({"inc0001": late}), parse_time("2027-01-01"))
    assert (result.status, result.filing, result.filed_late) == (FILED, late, True)


def test_reads_the_register_listing_and_plain_lines(tmp_path: Path) -> None:
    listing = tmp_path / "register.json"
    listing.write_text(
        json.dumps(
            [
                {
                    "incident_id": "inc0001",
                    "report": {
                        "status": "filed",
                        "reference": "KR-7",
                        "filed_by": "kim",
                        "filed_at": "2026-11-23T05:00:00.000Z",
                    },
                },
                {"incident_id": "inc0002", "report": {"status": "due", "reference": None}},
            ]
        )
    )
    lines = tmp_path / "filings.jsonl"
    lines.write_text(
        json.dumps(
            {
                "incident_id": "inc0003",
                "reference": "R",
                "filed_by": "lee",
                "filed_at": "2026-11-23T06:00:00Z",
            }
        )
        + "\n"
    )
    assert FilingsFile.read(listing).filings == {
        "inc0001": Filing("KR-7", "kim", parse_time("2026-11-23T05:00Z"))
    }
    assert FilingsFile.read(lines).filings == {"inc0003": Filing("R", "lee", parse_time("2026-11-23T06:00Z"))}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON or JSON Lines"),
        ('[{"reference": "R"}]', "entry 1: expected an object with an incident_id"),
        ('[{"incident_id": "i", "reference": "R", "filed_by": "x"}]', "'filed_at' is missing"),
        (
            '[{"incident_id": "i", "reference": "R", "filed_by": "x", "filed_at": "yesterday"}]',
            "not an RFC 3339 time",
        ),
    ],
)
def test_unusable_files_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(text)
    with pytest.raises(FilingsError, match=message):
        FilingsFile.read(path)


def test_reads_one_pretty_printed_object(tmp_path: Path) -> None:
    shown = tmp_path / "show.json"
    shown.write_text(
        json.dumps(
            {
                "incident_id": "inc0009",
                "report": {"reference": "KR-9", "filed_by": "park", "filed_at": "2026-11-23T07:00:00Z"},
            },
            indent=1,
        )
    )
    assert FilingsFile.read(shown).filings == {
        "inc0009": Filing("KR-9", "park", parse_time("2026-11-23T07:00Z"))
    }


def test_reads_the_register_itself_for_one_zone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    filing = Filing("KOTSA-2026-0042", "kim.operator", parse_time(DEADLINE))
    with Register.open(url) as register:
        register.upsert(
            [
                registers.incident("a1"),
                registers.incident("a2"),
                registers.incident("b1", zone="sejong"),
            ]
        )
        register.file_report("a1", filing)
        register.file_report("b1", filing)
    source = RegisterFilings.read(url, "gwangju")
    assert source.filings == {"a1": filing}  # sejong's filing is not this report's
    assert source.filing_for("a2") is None
    assert obligation({**WITH_DEADLINE, "incident_id": "a1"}, source, 0).status == FILED
    assert obligation({**WITH_DEADLINE, "incident_id": "a2"}, source, 0).status == DUE


def test_an_unusable_register_says_what_to_fix() -> None:
    with pytest.raises(RegisterError, match=r"use sqlite:///FILE \(relative\)"):
        RegisterFilings.read("mysql://nowhere/db")
