"""Report statuses as of a moment, and the register's report metrics read at each scrape."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotzone.pipelines.metrics.export import registry_of
from pilotzone.pipelines.register.metrics import RegisterCollector
from pilotzone.pipelines.register.obligations import (
    DUE,
    FILED,
    NOT_REQUIRED,
    OVERDUE,
    obligations,
    report_status,
)
from pilotzone.pipelines.register.store import Filing, Register
from tests.factories import T0_MS
from tests.pipelines.register.registers import HOUR_MS, incident

DEADLINE = T0_MS + 24 * HOUR_MS


@pytest.mark.parametrize(
    ("deadline", "filed", "now", "status"),
    [
        (None, False, DEADLINE + 1, NOT_REQUIRED),
        (None, True, DEADLINE, NOT_REQUIRED),
        (DEADLINE, False, DEADLINE - 1, DUE),
        (DEADLINE, False, DEADLINE, DUE),  # at the deadline itself the report is still on time
        (DEADLINE, False, DEADLINE + 1, OVERDUE),
        (DEADLINE, True, DEADLINE + 1, FILED),
        (DEADLINE, True, DEADLINE - 1, FILED),
    ],
)
def test_report_status(deadline: int | None, filed: bool, now: int, status: str) -> None:
    assert report_status(deadline, filed, now) == status


def test_a_report_filed_after_its_deadline_is_filed_late(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    with Register.open(url) as register:
        register.upsert([incident("late"), incident("on-time"), incident("dwell", deadline_ms=None)])
        register.file_report("late", Filing("R-1", "kim", DEADLINE + 1))
        register.file_report("on-time", Filing("R-2", "kim", DEADLINE))
        entries = register.entries()
    late = {
        item.entry.record.incident_id: item.filed_late for item in obligations(entries, DEADLINE + HOUR_MS)
    }
    assert late == {"late": True, "on-time": False, "dwell": None}


def test_the_register_collector_follows_the_clock_between_scrapes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    with Register.open(url) as register:
        register.upsert([incident("c1"), incident("c2", operator="op-b", severity="MAJOR")])
    clock = [(DEADLINE - 1) / 1000]
    registry = registry_of(RegisterCollector(url, clock=lambda: clock[0]))
    labels = {"pilot_zone": "gwangju", "operator": "gwangju-robotaxi-a", "severity": "CRITICAL"}
    assert registry.get_sample_value("pilotzone_reports_outstanding", labels) == 1
    assert registry.get_sample_value("pilotzone_reports_overdue", labels) == 0
    clock[0] = (DEADLINE + 1) / 1000
    assert registry.get_sample_value("pilotzone_reports_outstanding", labels) == 0
    assert registry.get_sample_value("pilotzone_reports_overdue", labels) == 1
    with Register.open(url) as register:
        register.file_report("c1", Filing("R-1", "kim", DEADLINE + 2))
    assert registry.get_sample_value("pilotzone_reports_overdue", labels) == 0  # resolves, does not vanish
    assert registry.get_sample_value("pilotzone_reports_filed", labels) == 1
    other = {"pilot_zone": "gwangju", "operator": "op-b", "severity": "MAJOR"}
    assert registry.get_sample_value("pilotzone_reports_overdue", other) == 1
