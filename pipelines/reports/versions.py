"""A report over a config history: which zone versions were in force, and the figures of each.

A zone's rules may change during a run (``zones.history``): each sample was judged by the
version in force at its event time, and each window summary and incident names that version
(``config_version``). A regulator reading a report over such a period must see every version
that was in force, with its dates, and where the figures split between them: the zone's
totals are the sums of the versions' rows, since a window cut by a change has one summary per
version whose figures add up (``zones.evaluate.epochs``).

Fence incidents carry their fence's digest as ``config_version``, not a zone version, and are
left out of the split (``FENCE_KIND``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from pilotzone.pipelines.reports.figures import GroupFigures, Period, group_figures, zone_total
from pilotzone.zones import Zone
from pilotzone.zones.fences import FENCE_KIND
from pilotzone.zones.history import BEGINNING_MS, END_MS, effective_span


def versions_in_period(versions: Iterable[Zone], period: Period) -> list[Zone]:
    """The versions of one zone in force at some moment of the period, by start."""
    overlapping = [
        zone
        for zone in versions
        if effective_span(zone)[0] < period.end_ms and period.start_ms < effective_span(zone)[1]
    ]
    return sorted(overlapping, key=lambda zone: effective_span(zone)[0])


def zone_config_versions(incidents: Iterable[dict[str, Any]]) -> set[str]:
    """The zone-config versions incidents name (fence incidents name their fence instead)."""
    return {row["config_version"] for row in incidents if row["kind"] != FENCE_KIND}


@dataclass(frozen=True)
class VersionFigures:
    """What was driven and found under one version in the period."""

    zone: Zone
    figures: GroupFigures
    incidents: int
    """Incidents of the zone's rules that this version opened in the period."""


def figures_by_version(
    versions: Sequence[Zone], rows: Sequence[dict[str, Any]], incidents: Sequence[dict[str, Any]]
) -> list[VersionFigures]:
    """One entry per version, in the order given; rows of runs written before summaries
    named their version (no ``config_version``) belong to none, so such a run gives zeros."""
    result = []
    for zone in versions:
        mine = [row for row in rows if row.get("config_version") == zone.version]
        opened = sum(
            1 for row in incidents if row["kind"] != FENCE_KIND and row["config_version"] == zone.version
        )
        result.append(VersionFigures(zone, zone_total(group_figures(mine), mine), opened))
    return result


def validity(zone: Zone) -> str:
    """When a version is in force, in words ("from ... until ...", "always")."""
    start, end = effective_span(zone)
    if start == BEGINNING_MS and end == END_MS:
        return "always"
    config = zone.config
    since = "" if config.effective_from is None else f"from {config.effective_from.isoformat()}"
    until = "onwards" if config.until is None else f"until {config.until.isoformat()}"
    return f"{since} {until}".strip()


def versions_table(split: Sequence[VersionFigures], hidden: bool) -> str:
    """The figures split by version as HTML; ``hidden``: the public version withholds them."""
    if hidden:
        cells = "<td colspan=6>suppressed (fewer than k vehicles under a version)</td>"
        body = "".join(
            f'<tr class="version-row" data-version="{escape(v.zone.version)}"><td><code>{escape(v.zone.version)}'
            f'</code></td><td class="text">{escape(validity(v.zone))}</td>{cells}</tr>'
            for v in split
        )
    else:
        body = "".join(
            f'<tr class="version-row" data-version="{escape(v.zone.version)}"><td><code>{escape(v.zone.version)}'
            f'</code></td><td class="text">{escape(validity(v.zone))}</td><td>{v.figures.samples:,}</td>'
            f"<td>{v.figures.km():,.1f}</td><td>{v.figures.km('AUTONOMOUS'):,.1f}</td>"
            f"<td>{v.figures.violation_seconds:,.1f}</td><td>{_ratio(v.figures)}</td><td>{v.incidents}</td></tr>"
            for v in split
        )
    return (
        '<section id="versions"><h2>Figures by config version</h2><p class="note">The zone\'s rules changed '
        "during the period: each sample was judged by the version in force at its time, and the zone's "
        "figures are the sums of these rows.</p>"
        '<table class="versions"><thead><tr><th>Version</th><th>In force</th><th>Samples</th><th>km total</th>'
        "<th>km autonomous</th><th>Violation s</th><th>Compliance ratio</th><th>Incidents</th></tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )


def _ratio(figures: GroupFigures) -> str:
    ratio = figures.compliance_ratio
    return "–" if ratio is None else f"{ratio:.4f}"


__all__ = [
    "VersionFigures",
    "figures_by_version",
    "validity",
    "versions_in_period",
    "versions_table",
    "zone_config_versions",
]
