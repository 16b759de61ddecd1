"""Each incident's reporting obligation: its deadline and whether the report was filed.

A rule with ``report_within_h`` gives its incidents a deadline (the incident log's
``report_deadline``). Whether a report was filed is not in the run's outputs: it lives in the
incident register. The report reads it through ``FilingSource``, a one-method interface,
and ships one implementation, ``FilingsFile``, over a JSON export: either the register's
``incidents list --json`` output (objects with ``incident_id`` and a ``report`` object holding
``reference``, ``filed_by``, ``filed_at``; ``incidents show --json`` gives one such object) or
plain objects with those four keys, as a JSON array, one object or JSON Lines; and
``RegisterFilings`` reads the register directly. Statuses and ``Filing`` are the register's
(``pipelines.register``), so a report and ``pilotzone incidents list`` never disagree. Without a
source every obligation's filing is "not recorded": the report never claims a report is
overdue when it simply does not know.

Statuses, as of the moment the report is made for (``--as-of``): ``not required`` (no
deadline), ``filed`` (late if after the deadline), ``due`` (deadline ahead or now),
``overdue`` (deadline passed, nothing filed), ``not recorded`` (no filing source).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pilotzone.pipelines.metrics.export import parse_rfc3339_ms
from pilotzone.pipelines.register.obligations import DUE, FILED, NOT_REQUIRED, OVERDUE, report_status
from pilotzone.pipelines.register.store import Filing, Register

__all__ = ["DUE", "FILED", "NOT_RECORDED", "NOT_REQUIRED", "OVERDUE", "Filing", "RegisterFilings"]

NOT_RECORDED = "not_recorded"
"""The report's one status beyond the register's: it was given no filing source."""


def status_label(status: str) -> str:
    """How a status code reads in a report (``not_required`` -> ``not required``)."""
    return status.replace("_", " ")


class FilingsError(ValueError):
    """A filings file that cannot be read; says what to fix."""


class FilingSource(Protocol):
    """Where filings come from (a register export today; the register itself when wired)."""

    def filing_for(self, incident_id: str) -> Filing | None:
        """The filing of one incident, None if none was filed."""


class FilingsFile:
    """Filings read from a JSON export (module docstring)."""

    def __init__(self, filings: dict[str, Filing]) -> None:
        self.filings = filings

    def filing_for(self, incident_id: str) -> Filing | None:
        """The filing of one incident, None if none was filed."""
        return self.filings.get(incident_id)

    @classmethod
    def read(cls, path: Path) -> FilingsFile:
        """Read an export; ``FilingsError`` naming the entry and the field when one is unusable."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FilingsError(f"cannot read the filings file {path}: {exc.strerror}") from None
        try:
            loaded = _entries(text)
        except json.JSONDecodeError as exc:
            raise FilingsError(f"{path}: not JSON or JSON Lines ({exc.msg}, line {exc.lineno})") from None
        filings: dict[str, Filing] = {}
        for number, entry in enumerate(loaded, start=1):
            filing = _entry_filing(entry, f"{path}, entry {number}")
            if filing is not None:
                filings[filing[0]] = filing[1]
        return cls(filings)


class RegisterFilings:
    """Filings read from the incident register itself (``--register URL``), once, up front:
    a report is a snapshot, and one query beats one per incident."""

    def __init__(self, filings: dict[str, Filing]) -> None:
        self.filings = filings

    def filing_for(self, incident_id: str) -> Filing | None:
        """The filing of one incident, None if none was filed."""
        return self.filings.get(incident_id)

    @classmethod
    def read(cls, url: str, pilot_zone: str | None = None) -> RegisterFilings:
        """Every filing the register holds (for one zone); ``RegisterError`` says what to fix."""
        with Register.open(url) as register:
            entries = register.entries(pilot_zone=pilot_zone)
        return cls({e.record.incident_id: e.filing for e in entries if e.filing is not None})


def _entries(text: str) -> list[Any]:
    """A JSON array, one JSON object (``incidents show --json``) or JSON Lines."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return whole if isinstance(whole, list) else [whole]


def _entry_filing(entry: Any, where: str) -> tuple[str, Filing] | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("incident_id"), str):
        raise FilingsError(f"{where}: expected an object with an incident_id")
    fields = entry.get("report", entry)
    if not isinstance(fields, dict) or fields.get("reference") is None:
        return None  # listed, not filed
    try:
        return entry["incident_id"], Filing(
            str(fields["reference"]), str(fields["filed_by"]), parse_rfc3339_ms(str(fields["filed_at"]))
        )
    except KeyError as exc:
        raise FilingsError(
            f"{where}: a filing needs reference, filed_by and filed_at; {exc} is missing"
        ) from None
    except ValueError:
        raise FilingsError(f"{where}: filed_at {fields['filed_at']!r} is not an RFC 3339 time") from None


@dataclass(frozen=True)
class Obligation:
    """One incident's reporting status as of a moment."""

    deadline_ms: int | None
    status: str
    filing: Filing | None

    @property
    def filed_late(self) -> bool:
        """Whether the report was filed after its deadline."""
        return (
            self.filing is not None
            and self.deadline_ms is not None
            and self.filing.filed_at_ms > self.deadline_ms
        )


def obligation(incident: dict[str, Any], source: FilingSource | None, as_of_ms: int) -> Obligation:
    """The reporting obligation of one incident (module docstring)."""
    deadline = incident.get("report_deadline")
    deadline_ms = None if deadline is None else parse_rfc3339_ms(deadline)
    if deadline_ms is None:
        return Obligation(None, NOT_REQUIRED, None)
    if source is None:
        return Obligation(deadline_ms, NOT_RECORDED, None)
    filing = source.filing_for(incident["incident_id"])
    return Obligation(deadline_ms, report_status(deadline_ms, filing is not None, as_of_ms), filing)
