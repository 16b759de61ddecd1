"""Everything one report says, computed once from a run folder, a zone and a request.

The HTML renderer only formats what is here, so the figures a test checks in the document are
the figures computed here, and the internal and public versions differ only in what they
withhold, never in how a figure is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pilotzone.pipelines.reports.figures import (
    Bucket,
    GroupFigures,
    Period,
    bucket_seconds,
    group_figures,
    run_period,
    time_series,
    zone_incidents,
    zone_rows,
    zone_total,
)
from pilotzone.pipelines.reports.filings import FilingSource, Obligation, obligation
from pilotzone.pipelines.reports.grade import ZoneGrade, zone_grade
from pilotzone.pipelines.reports.public import PublicView, public_view
from pilotzone.pipelines.reports.rundir import RunFolder
from pilotzone.pipelines.reports.suppression import DEFAULT_K
from pilotzone.pipelines.reports.versions import VersionFigures, figures_by_version, versions_in_period
from pilotzone.zones import Zone


class ReportError(ValueError):
    """A report that cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class ReportRequest:
    """What to report on and for whom."""

    zone: Zone
    period: Period | None = None
    """None: the whole span of the run."""
    public: bool = False
    k: int = DEFAULT_K
    filings: FilingSource | None = None
    as_of_ms: int | None = None
    """The moment report statuses are judged at; None: the end of the period."""
    history: tuple[Zone, ...] = ()
    """Every version of the zone loaded (its config history, ``zones.history``); empty: ``zone``
    is the only one."""


@dataclass(frozen=True)
class ReportContent:
    """The computed report."""

    request: ReportRequest
    run: RunFolder
    period: Period
    groups: list[GroupFigures]
    total: GroupFigures
    grade: ZoneGrade
    incidents: list[dict[str, Any]]
    obligations: list[Obligation]
    buckets: list[Bucket]
    bucket_s: int
    run_versions: list[str]
    """Config versions the run recorded for the zone (empty: the run recorded none)."""
    public: PublicView | None
    """What the public version withholds; None for the internal version."""
    versions: list[Zone]
    """The zone's versions in force during the period, by start (one for an undated config)."""
    by_version: list[VersionFigures]
    """The figures split by version; empty unless several versions were in force."""

    @property
    def zone(self) -> Zone:
        """The zone reported on: the last version in force during the period (its name,
        timezone and map head the report)."""
        return self.versions[-1]

    @property
    def as_of_ms(self) -> int:
        """The moment report statuses are judged at."""
        return self.period.end_ms if self.request.as_of_ms is None else self.request.as_of_ms


def build_report(run: RunFolder, request: ReportRequest) -> ReportContent:
    """The report's content; ``ReportError`` if the zone is not in the run or its config differs."""
    zone_id = request.zone.zone_id
    if zone_id not in run.zone_ids:
        known = ", ".join(run.zone_ids) or "none"
        raise ReportError(f"the run in {run.path} has no data for zone {zone_id!r} (zones in it: {known})")
    versions = sorted(run.config_versions.get(zone_id, set()))
    loaded = request.history or (request.zone,)
    _check_versions(zone_id, versions, loaded)
    period = request.period or run_period(
        [row for row in run.summaries if row["pilot_zone"] == zone_id],
        [row for row in run.incidents if row["pilot_zone"] == zone_id],
    )
    if period is None:
        raise ReportError(f"the run has no window summary or incident for zone {zone_id!r}")
    in_force = versions_in_period(loaded, period)
    if not in_force:
        raise ReportError(
            f"no version of zone {zone_id} loaded is in force during the period: pass --zones with the "
            "configs the run used, or a period inside their dates"
        )
    rows = zone_rows(run.summaries, zone_id, period)
    groups = group_figures(rows)
    total = zone_total(groups, rows)
    incidents = zone_incidents(run.incidents, zone_id, period)
    as_of = period.end_ms if request.as_of_ms is None else request.as_of_ms
    buckets = time_series(rows, incidents, period)
    obligations = [obligation(row, request.filings, as_of) for row in incidents]
    return ReportContent(
        request=request,
        run=run,
        period=period,
        groups=groups,
        total=total,
        grade=zone_grade(total),
        incidents=incidents,
        obligations=obligations,
        buckets=buckets,
        bucket_s=bucket_seconds(period),
        run_versions=versions,
        versions=in_force,
        by_version=figures_by_version(in_force, rows, incidents) if len(in_force) > 1 else [],
        public=public_view(
            groups,
            total=total,
            buckets=buckets,
            incidents=incidents,
            statuses=[ob.status for ob in obligations],
            bounds=in_force[-1].boundary.bounds,
            k=request.k,
        )
        if request.public
        else None,
    )


def _check_versions(zone_id: str, recorded: list[str], loaded: Sequence[Zone]) -> None:
    """The run's versions must all be loaded, so the rules printed are the rules that were in force."""
    known = {zone.version for zone in loaded}
    missing = [version for version in recorded if version not in known]
    if not missing:
        return
    if len(loaded) == 1:
        raise ReportError(
            f"the run evaluated zone {zone_id} with config {', '.join(recorded)}, but the config given "
            f"({loaded[0].source}) is {loaded[0].version}: pass --zones with the config the run used, "
            "so the rules printed are the rules that were in force"
        )
    raise ReportError(
        f"the run evaluated zone {zone_id} with config {', '.join(missing)}, which is not among the "
        f"{len(loaded)} versions given ({', '.join(zone.version for zone in loaded)}): pass --zones with every "
        "version of the history the run used"
    )
