"""What every register must do, whatever its engine: checks that take a register URL.

``test_store`` runs them on SQLite files, ``test_postgres`` on a real PostgreSQL server.
"""

from __future__ import annotations

import dataclasses

import pytest

from pilotzone.pipelines.register.migrations import MIGRATIONS
from pilotzone.pipelines.register.store import Filing, Register, RegisterEntry, RegisterError
from pilotzone.zones.evaluate import IncidentRecord
from tests.factories import T0_MS

HOUR_MS = 3_600_000


def incident(
    incident_id: str = "a1",
    *,
    status: str = "OPENED",
    kind: str = "vehicle_event",
    rule_id: str = "event-collision",
    severity: str = "CRITICAL",
    operator: str = "gwangju-robotaxi-a",
    start_ms: int = T0_MS,
    end_ms: int | None = None,
    peak: float | None = None,
    deadline_ms: int | None = T0_MS + 24 * HOUR_MS,
    observed_ms: int | None = None,
    explanation: str = "COLLISION reported",
    zone: str = "gwangju",
) -> IncidentRecord:
    """One incident state with the fields a register keeps."""
    return IncidentRecord(
        incident_id=incident_id,
        status=status,
        pilot_zone=zone,
        area=None,
        rule_id=rule_id,
        kind=kind,
        severity=severity,
        vehicle_id="veh-0001",
        operator_id=operator,
        start_ms=start_ms,
        end_ms=end_ms,
        peak_value=peak,
        latitude=35.1595,
        longitude=126.8526,
        config_version="sha256:0123456789abcdef",
        report_deadline_ms=deadline_ms,
        explanation=explanation,
        vehicle_class="ROBOTAXI",
        observed_until_ms=observed_ms,
    )


def dwell(status: str, peak: float, observed_s: int, end_s: int | None = None) -> IncidentRecord:
    """States of one dwell incident (no report required), as the evaluator emits them."""
    return incident(
        "dwell-1",
        status=status,
        kind="dwell",
        rule_id="dwell",
        severity="MINOR",
        end_ms=None if end_s is None else T0_MS + end_s * 1000,
        peak=peak,
        deadline_ms=None,
        observed_ms=T0_MS + observed_s * 1000,
        explanation=f"stopped (below 1 km/h) for {observed_s} s",
    )


def check_migrations_apply_once_in_order(url: str) -> None:
    with Register.open(url) as register:
        assert register.schema_versions() == [m.version for m in MIGRATIONS] == [1, 2]
    with Register.open(url) as again:
        assert again.migrate() == []  # nothing left to apply
        assert again.schema_versions() == [1, 2]


def check_upsert_is_idempotent_and_keeps_the_furthest_state(url: str) -> None:
    opened, updated = dwell("OPENED", 301.0, 301), dwell("UPDATED", 423.0, 423)
    closed = dwell("CLOSED", 430.0, 430, end_s=430)
    with Register.open(url) as register:
        register.upsert([updated, opened])  # out of order in one transaction
        assert register.entries() == [
            RegisterEntry(dataclasses.replace(updated, observed_until_ms=None), None)
        ]
        register.upsert([opened])  # a late OPENED changes nothing
        (entry,) = register.entries()
        assert (entry.record.status, entry.record.peak_value, entry.record.explanation) == (
            "UPDATED",
            423.0,
            "stopped (below 1 km/h) for 423 s",
        )
        register.upsert([closed, closed, updated])
        register.upsert([closed])
        (entry,) = register.entries()
        assert (entry.record.status, entry.record.end_ms, entry.record.peak_value) == (
            "CLOSED",
            T0_MS + 430_000,
            430.0,
        )


def check_equal_peaks_are_ordered_by_the_latest_fix(url: str) -> None:
    early = incident(
        "s1",
        status="UPDATED",
        kind="speed_limit",
        peak=12.0,
        observed_ms=T0_MS + 9_000,
        explanation="for 9 s",
    )
    late = dataclasses.replace(early, observed_until_ms=T0_MS + 12_000, explanation="for 12 s")
    with Register.open(url) as register:
        register.upsert([late])
        register.upsert([early])
        assert [e.record.explanation for e in register.entries()] == ["for 12 s"]


def check_filing_a_report(url: str) -> None:
    collision = incident("c1")
    no_report = incident("d1", kind="dwell", rule_id="dwell", severity="MINOR", deadline_ms=None)
    with Register.open(url) as register:
        register.upsert([collision, no_report])
        filing = Filing("KOTSA-2026-0042", "kim.operator", T0_MS + 2 * HOUR_MS)
        entry = register.file_report("c1", filing)
        assert entry.filing == filing
        assert register.file_report("c1", filing).filing == filing  # the same filing again: no change
        with pytest.raises(RegisterError, match=r"already filed as 'KOTSA-2026-0042' by kim\.operator"):
            register.file_report("c1", Filing("OTHER-1", "lee", T0_MS))
        with pytest.raises(RegisterError, match="requires no report"):
            register.file_report("d1", filing)
        with pytest.raises(RegisterError, match="no incident 'nope' in the register"):
            register.file_report("nope", filing)
        # Replaying the telemetry again upserts the incident; the filing stays.
        register.upsert([dataclasses.replace(collision, status="CLOSED", end_ms=T0_MS)])
        stored = register.entry("c1")
        assert stored is not None and stored.filing == filing and stored.record.status == "CLOSED"
        assert register.entry("nope") is None


def check_entries_filter_and_order(url: str) -> None:
    records = [
        incident("b", start_ms=T0_MS + 5, operator="op-b"),
        incident("a", start_ms=T0_MS + 5, operator="op-a"),
        incident("z", start_ms=T0_MS, operator="op-a", zone="sejong"),
    ]
    with Register.open(url) as register:
        register.upsert(records)
        assert [e.record.incident_id for e in register.entries()] == ["z", "a", "b"]
        assert [e.record.incident_id for e in register.entries(pilot_zone="gwangju")] == ["a", "b"]
        assert [e.record.incident_id for e in register.entries(operator="op-a")] == ["z", "a"]
        assert [e.record.incident_id for e in register.entries(pilot_zone="gwangju", operator="op-b")] == [
            "b"
        ]
