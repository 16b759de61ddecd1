"""What an operator owes the zone authority for each incident, as of a given moment.

A rule with ``report_within_h`` (the vehicle_event rules of the shipped zones) gives each of
its incidents a report deadline: start + that many hours, carried by the incident as
``report_deadline``. The register adds the filing, and the moment of the question decides:

* ``not_required``: the incident has no deadline (its rule asks for no report);
* ``filed``: a report was filed (``filed_late`` says whether after the deadline);
* ``due``: not filed, and the deadline is still ahead (at the deadline itself it is still due);
* ``overdue``: not filed, and the deadline has passed.

The moment is passed in, never read from the clock here: a regulator's desk asks "as of now",
an audit of last year's register asks "as of then", and tests ask both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pilotzone.pipelines.register.store import RegisterEntry
from pilotzone.zones.evaluate import rfc3339_ms

DUE = "due"
OVERDUE = "overdue"
FILED = "filed"
NOT_REQUIRED = "not_required"

REPORT_STATUSES = (DUE, OVERDUE, FILED, NOT_REQUIRED)


def report_status(deadline_ms: int | None, filed: bool, now_ms: int) -> str:
    """The reporting status of one incident (module docstring)."""
    if deadline_ms is None:
        return NOT_REQUIRED
    if filed:
        return FILED
    return DUE if now_ms <= deadline_ms else OVERDUE


@dataclass(frozen=True)
class Obligation:
    """One register entry with its reporting status as of ``now_ms``."""

    entry: RegisterEntry
    status: str
    now_ms: int

    @property
    def filed_late(self) -> bool | None:
        """Whether the report was filed after its deadline (None unless filed)."""
        filing, deadline = self.entry.filing, self.entry.record.report_deadline_ms
        if filing is None or deadline is None:
            return None
        return filing.filed_at_ms > deadline

    @property
    def overdue_s(self) -> float | None:
        """Seconds past the deadline (None unless overdue)."""
        deadline = self.entry.record.report_deadline_ms
        if self.status != OVERDUE or deadline is None:
            return None
        return (self.now_ms - deadline) / 1000

    def to_json(self) -> dict[str, Any]:
        """The incident log's fields, the lifecycle status, the vehicle class and the report's
        status, deadline and filing, times as RFC 3339 UTC."""
        record, filing = self.entry.record, self.entry.filing
        return {
            **record.to_json(),
            "lifecycle_status": record.status,
            "vehicle_class": record.vehicle_class,
            "report": {
                "status": self.status,
                "deadline": None
                if record.report_deadline_ms is None
                else rfc3339_ms(record.report_deadline_ms),
                "overdue_s": self.overdue_s,
                "reference": None if filing is None else filing.reference,
                "filed_by": None if filing is None else filing.filed_by,
                "filed_at": None if filing is None else rfc3339_ms(filing.filed_at_ms),
                "filed_late": self.filed_late,
                "as_of": rfc3339_ms(self.now_ms),
            },
        }


def obligations(entries: list[RegisterEntry], now_ms: int) -> list[Obligation]:
    """Each entry with its reporting status as of ``now_ms``."""
    return [
        Obligation(
            entry, report_status(entry.record.report_deadline_ms, entry.filing is not None, now_ms), now_ms
        )
        for entry in entries
    ]
