"""Metrics from the register: reports outstanding, overdue and filed, per pilot zone, operator
and severity, computed at the moment they are read.

Why from the register and not from the pipeline: only the register knows which reports were
filed, and an overdue report is a fact about the clock, not about telemetry. The pipeline's
``pilotzone_reports_due`` counts deadlines still ahead as of the run; once a deadline passes,
that incident leaves the count, and nothing said it was never reported. Here the overdue
count stays until the report is filed. Every (zone, operator, severity) with any incident
that needs a report gets all three series, 0 where there is none, so a filed report turns an
overdue series to 0 rather than making it vanish (an alert then resolves instead of going
stale). No series carries a vehicle id.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pilotzone.pipelines.metrics.catalog import BY_NAME
from pilotzone.pipelines.register.obligations import DUE, FILED, OVERDUE, Obligation, obligations
from pilotzone.pipelines.register.store import Register

REGISTER_FAMILIES = {
    DUE: "pilotzone_reports_outstanding",
    OVERDUE: "pilotzone_reports_overdue",
    FILED: "pilotzone_reports_filed",
}
"""Report status -> the catalog gauge that counts incidents in it."""


def _gauge(name: str) -> GaugeMetricFamily:
    spec = BY_NAME[name]
    return GaugeMetricFamily(name, spec.help, labels=list(spec.labels))


def register_families(current: Sequence[Obligation]) -> list[Metric]:
    """The register's report families for these obligations (module docstring)."""
    counts: Counter[tuple[str, str, str, str]] = Counter()
    groups: set[tuple[str, str, str]] = set()
    for obligation in current:
        if obligation.status not in REGISTER_FAMILIES:
            continue
        record = obligation.entry.record
        group = (record.pilot_zone, record.operator_id, record.severity)
        groups.add(group)
        counts[(*group, obligation.status)] += 1
    families: list[Metric] = []
    for status, name in REGISTER_FAMILIES.items():
        family = _gauge(name)
        for group in sorted(groups):
            family.add_metric(list(group), counts[(*group, status)])
        families.append(family)
    return families


class RegisterCollector(Collector):
    """Reads the register at every scrape, so overdue counts follow the clock between runs."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now_ms = round(self.clock() * 1000)
        # The command that serves these migrated the register once at start; a scrape only reads.
        with Register.open(self.url, migrate=False) as register:
            entries = register.entries()
        yield from register_families(obligations(entries, now_ms))
