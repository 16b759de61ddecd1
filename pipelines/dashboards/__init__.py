"""Grafana dashboards for regulators and operators, built with Grafana's own foundation SDK.

The dashboards are code so that every panel query can be checked against the metric catalog
(``pilotzone.pipelines.metrics.catalog``) and evaluated against a real Prometheus in a test; the JSON under
``deploy/grafana/dashboards`` is generated from here by ``pilotzone dashboards`` and committed,
so a reviewer sees what changes on screen. Queries read the raw catalog metrics, never
recording rules, so a dashboard works against any Prometheus that scrapes the monitor.

Every panel reads its data source from the ``datasource`` template variable: a regulator with
several Prometheus servers (one per region, say) switches them in one place. Counters are
only ever read through ``rate()`` or ``increase()``, because their raw value depends on when the
pipeline last restarted. Stat and table panels show the selected time range (``$__range``);
time-series panels show how a figure moved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models import prometheus as prometheus_models

OVERVIEW_UID = "pilotzone-overview"
ZONE_UID = "pilotzone-zone"
PIPELINE_UID = "pilotzone-pipeline"
DASHBOARD_UIDS = (OVERVIEW_UID, ZONE_UID, PIPELINE_UID)

DATASOURCE_VARIABLE = "datasource"
ZONE_VARIABLE = "pilot_zone"
TAGS = ["pilotzone"]
TIMEZONE = "Asia/Seoul"
"""Every pilot zone is in Korea and incident deadlines are in Korean time, so a regulator
reading a dashboard abroad still sees the times the operators and the permits use."""

REFRESH_INTERVALS = ["1m", "5m", "15m", "1h"]
"""The monitor publishes per summary window (about a minute); refreshing faster than that
only loads Prometheus without showing anything new."""

_DATASOURCE = dashboard.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")
_ZONE = f'pilot_zone="${ZONE_VARIABLE}"'
_PER_1000_KM = 1_000_000
"""1,000 km in metres: distance is exported in metres (base unit)."""


class Query(NamedTuple):
    """One PromQL target of a panel and how its series are named in the legend."""

    expr: str
    legend: str = ""


class ConcreteQuery(NamedTuple):
    """A panel query with every template variable replaced, ready for Prometheus's HTTP API."""

    dashboard_uid: str
    panel_title: str
    expr: str


# --- PromQL pieces ----------------------------------------------------------------------------


def _ratio_or_zero(numerator: str, denominator: str) -> str:
    """``numerator / denominator``, 0 where the numerator has no series, absent where the denominator is 0.

    Counters such as violation seconds only have a series once something happened; without the
    ``or`` a zone with no violation at all would show no compliance ratio instead of 100 %.
    """
    return f"(({numerator}) or (0 * ({denominator}))) / (({denominator}) > 0)"


def _compliance(by: str, selector: str, window: str) -> str:
    """1 − violation seconds ÷ vehicle seconds, clamped to [0, 1].

    Violation time is summed over rules, so a vehicle breaking two rules at once counts twice and
    the ratio could drop below 0; clamping keeps the gauge readable, the description says why.
    """
    violation = f"sum by ({by}) (increase(pilotzone_violation_seconds_total{selector}[{window}]))"
    operating = f"sum by ({by}) (increase(pilotzone_vehicle_seconds_total{selector}[{window}]))"
    return f"clamp(1 - {_ratio_or_zero(violation, operating)}, 0, 1)"


def _per_1000_autonomous_km(counter: str, by: str, selector: str) -> str:
    """Events per 1,000 km driven in AUTONOMOUS mode, the rate permits and reports compare fleets by."""
    events = f"sum by ({by}) (increase({counter}{selector}[$__range]))"
    autonomous_selector = (
        selector[:-1] + ', driving_mode="AUTONOMOUS"}' if selector else '{driving_mode="AUTONOMOUS"}'
    )
    km = f"sum by ({by}) (increase(pilotzone_distance_meters_total{autonomous_selector}[$__range])) / {_PER_1000_KM}"
    return _ratio_or_zero(events, km)


# --- Panels -----------------------------------------------------------------------------------


def _targets(
    queries: Sequence[Query], *, instant: bool, table_format: bool = False
) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = []
    for index, query in enumerate(queries):
        target = prometheus.Dataquery().expr(query.expr).ref_id(chr(ord("A") + index))
        if query.legend:
            target = target.legend_format(query.legend)
        target = target.instant() if instant else target.range()
        if table_format:
            target = target.format(prometheus_models.PromQueryFormat.TABLE)
        targets.append(target)
    return targets


def _thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds; the first step (value ``None``) is the base colour."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps([dashboard.Threshold(value=value, color=color) for value, color in steps])
    )


def _timeseries(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    span: int = 12,
    height: int = 8,
    min_value: float | None = 0,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(_DATASOURCE)
        .unit(unit)
        .targets(_targets(queries, instant=False))
        .span(span)
        .height(height)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    return panel


def _stat(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    span: int = 6,
    height: int = 6,
    thresholds: dashboard_builders.ThresholdsConfig | None = None,
    text_mode: common.BigValueTextMode = common.BigValueTextMode.VALUE_AND_NAME,
    decimals: float | None = None,
    mappings: Sequence[dashboard.ValueMap] = (),
    no_value: str | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(_DATASOURCE)
        .unit(unit)
        .targets(_targets(queries, instant=True))
        .span(span)
        .height(height)
        .thresholds(thresholds or _thresholds((None, "text")))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(text_mode)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        panel = panel.mappings(list(mappings))
    if no_value is not None:
        panel = panel.no_value(no_value)
    return panel


def _table(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    columns: Mapping[str, str],
    span: int = 12,
    height: int = 8,
    decimals: float | None = None,
    sort_by: str | None = None,
) -> table.Panel:
    """A table of instant queries merged on their labels; ``columns`` orders and renames the columns.

    The queries aggregate ``by`` exactly the labels to show, so only the time column is hidden.
    Grafana names the value column of query A ``Value #A`` when two or more queries are merged,
    ``Value`` when there is one.
    """
    panel = (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(_DATASOURCE)
        .unit(unit)
        .targets(_targets(queries, instant=True, table_format=True))
        .span(span)
        .height(height)
        .thresholds(_thresholds((None, "text")))
        .with_transformation(dashboard.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dashboard.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "indexByName": {name: index for index, name in enumerate(columns)},
                    "renameByName": dict(columns),
                },
            )
        )
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if sort_by is not None:
        panel = panel.sort_by(
            [common_builders.TableSortByFieldState().display_name(columns[sort_by]).desc(True)]
        )
    return panel


def _dashed_permits(panel: timeseries.Panel) -> timeseries.Panel:
    """Draw the series named '... permitted' dashed: a cap, not a measurement."""
    return panel.override_by_regexp(
        ".* permitted$",
        [dashboard.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]})],
    )


def _row(row_id: int, title: str) -> dashboard_builders.Row:
    """An expanded row: a heading; the panels that follow it on the grid belong to it."""
    return dashboard_builders.Row(title).id(row_id).collapsed(False)


# --- Dashboards -------------------------------------------------------------------------------


def _dashboard(
    uid: str, title: str, description: str, *, time_from: str, refresh: str
) -> dashboard_builders.Dashboard:
    """The parts every pilotzone dashboard shares: data source variable, time zone, links."""
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone(TIMEZONE)
        .time(time_from, "now")
        .refresh(refresh)
        .timepicker(dashboard_builders.TimePicker().refresh_intervals(REFRESH_INTERVALS))
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .link(
            dashboard_builders.DashboardLink("Pilot-zone dashboards")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(
            dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE)
            .label("Prometheus")
            .description("The Prometheus server that scrapes the pilotzone monitor.")
            .type("prometheus")
        )
    )


def _incident_count_stat(
    panel_id: int,
    title: str,
    description: str,
    series: str,
    *,
    thresholds: dashboard_builders.ThresholdsConfig | None = None,
) -> stat.Panel:
    """Whole incidents per zone and severity: the legend names the labels the sum keeps, none is 0."""
    return _stat(
        panel_id,
        title,
        description,
        "short",
        [Query(f"sum by (pilot_zone, severity) ({series})", "{{pilot_zone}} · {{severity}}")],
        thresholds=thresholds,
        decimals=0,
        no_value="0",
    )


def overview() -> dashboard_builders.Dashboard:
    """Regulator overview: every pilot zone side by side, one figure per question a regulator asks."""
    board = _dashboard(
        OVERVIEW_UID,
        "Pilot zones: regulator overview",
        "Every pilot zone side by side: fleet size against the permit, compliance, incidents, "
        "safety figures per 1,000 autonomous km and the zone-config version behind every figure.",
        time_from="now-24h",
        refresh="1m",
    )
    active = "sum by (pilot_zone) (pilotzone_active_vehicles)"
    zone_cap = "max by (pilot_zone) (pilotzone_zone_permitted_vehicles)"
    board = (
        board.with_row(_row(100, "Fleet against permits"))
        .with_panel(
            _dashed_permits(
                _timeseries(
                    1,
                    "Active vehicles vs permitted, per pilot zone",
                    "Vehicles that sent telemetry in each zone's latest summary window, next to the number "
                    "all operators together may run at once under the zone permit. A zone without a zone-wide "
                    "cap has no 'permitted' line.",
                    "short",
                    [Query(active, "{{pilot_zone}} active"), Query(zone_cap, "{{pilot_zone}} permitted")],
                    span=16,
                )
            )
        )
        .with_panel(
            _stat(
                2,
                "Permit use now",
                "Active vehicles as a share of the zone-wide permit. Orange from 90 %, red at 100 % or "
                "more: the zone runs at or above the number of vehicles its permit allows.",
                "percentunit",
                [Query(f"{active} / {zone_cap}", "{{pilot_zone}}")],
                span=8,
                height=8,
                thresholds=_thresholds((None, "green"), (0.9, "orange"), (1.0, "red")),
            )
        )
        .with_row(_row(101, "Compliance and incidents"))
        .with_panel(
            _stat(
                3,
                "Compliance ratio in the selected range",
                "1 − (time in violation of any rule ÷ vehicle operating time) per zone over the selected "
                "range. Time in violation of two rules at once counts twice, so this is a lower bound. "
                "Red below 95 %, orange below 99 %.",
                "percentunit",
                [Query(_compliance("pilot_zone", "", "$__range"), "{{pilot_zone}}")],
                span=8,
                thresholds=_thresholds((None, "red"), (0.95, "orange"), (0.99, "green")),
                decimals=2,
            )
        )
        .with_panel(
            _timeseries(
                4,
                "Compliance ratio over time",
                "The compliance ratio per zone over a sliding window: a dip shows when vehicles spent "
                "time in violation; the zone-detail dashboard shows which rule.",
                "percentunit",
                [Query(_compliance("pilot_zone", "", "$__rate_interval"), "{{pilot_zone}}")],
                span=16,
                height=6,
                max_value=1,
            )
        )
        .with_panel(
            _incident_count_stat(
                5,
                "Incidents opened in the selected range, by severity",
                "Incidents the monitor opened per zone and severity in the selected range (every rule, "
                "every operator). The zone-detail dashboard breaks them down by rule.",
                "increase(pilotzone_incidents_total[$__range])",
            )
        )
        .with_panel(
            _incident_count_stat(
                6,
                "Open incidents now",
                "Incidents without an end time when the monitor last published its figures, per zone and "
                "severity.",
                "pilotzone_open_incidents",
                thresholds=_thresholds((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            _incident_count_stat(
                7,
                "Regulator reports due",
                "Incidents whose report to the regulator is still due (deadline ahead), per zone and severity.",
                "pilotzone_reports_due",
                thresholds=_thresholds((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            _stat(
                8,
                "Next report deadline",
                "The earliest regulator report deadline still ahead in each zone (Korean time).",
                "dateTimeAsIso",
                [
                    Query(
                        "min by (pilot_zone) (pilotzone_report_deadline_timestamp_seconds) * 1000",
                        "{{pilot_zone}}",
                    )
                ],
                no_value="none ahead",
            )
        )
        .with_row(_row(102, "Safety per 1,000 autonomous km"))
        .with_panel(
            _stat(
                9,
                "Disengagements per 1,000 autonomous km",
                "Disengagements reported in the selected range divided by the distance driven in "
                "AUTONOMOUS mode, per zone. Zones without autonomous distance in the range show nothing.",
                "short",
                [
                    Query(
                        _per_1000_autonomous_km("pilotzone_disengagements_total", "pilot_zone", ""),
                        "{{pilot_zone}}",
                    )
                ],
                span=12,
                decimals=2,
            )
        )
        .with_panel(
            _stat(
                10,
                "Remote takeovers per 1,000 autonomous km",
                "Remote takeovers reported in the selected range divided by the distance driven in "
                "AUTONOMOUS mode, per zone.",
                "short",
                [
                    Query(
                        _per_1000_autonomous_km("pilotzone_remote_takeovers_total", "pilot_zone", ""),
                        "{{pilot_zone}}",
                    )
                ],
                span=12,
                decimals=2,
            )
        )
        .with_row(_row(103, "Configuration and freshness"))
        .with_panel(
            _table(
                11,
                "Zone-config versions behind the figures",
                "Every zone-config version (content hash) that produced figures in the selected range, "
                "with the first and last time it was reported within the range: an incident is judged "
                "by the version in force at its time.",
                "dateTimeAsIso",
                [
                    Query(
                        "min by (pilot_zone, config_version) "
                        "(min_over_time(timestamp(pilotzone_zone_config_info)[$__range:$__interval])) * 1000"
                    ),
                    Query(
                        "max by (pilot_zone, config_version) "
                        "(max_over_time(timestamp(pilotzone_zone_config_info)[$__range:$__interval])) * 1000"
                    ),
                ],
                columns={
                    "pilot_zone": "Pilot zone",
                    "config_version": "Config version",
                    "Value #A": "First reported",
                    "Value #B": "Last reported",
                },
                span=16,
                sort_by="Value #B",
            )
        )
        .with_panel(
            _stat(
                12,
                "Latest telemetry age",
                "Time since the end of the latest summary window with any telemetry, per zone: every "
                "figure above is only as recent as this. Orange after 15 minutes, red after an hour.",
                "s",
                [
                    Query(
                        "time() - max by (pilot_zone) (pilotzone_latest_telemetry_timestamp_seconds)",
                        "{{pilot_zone}}",
                    )
                ],
                span=8,
                height=8,
                thresholds=_thresholds((None, "green"), (900, "orange"), (3600, "red")),
                decimals=0,
            )
        )
    )
    return board


def zone_detail() -> dashboard_builders.Dashboard:
    """One pilot zone: which rule, operator and vehicle class is behind each figure of the overview."""
    board = _dashboard(
        ZONE_UID,
        "Pilot zone detail",
        "One pilot zone broken down by rule, operator and vehicle class: where violation time and "
        "incidents come from, how far each driving mode went and whether the fleet stays within permits.",
        time_from="now-24h",
        refresh="1m",
    ).with_variable(
        dashboard_builders.QueryVariable(ZONE_VARIABLE)
        .label("Pilot zone")
        .description("The pilot zone to show (zones that have published a zone-config version).")
        .datasource(_DATASOURCE)
        .query(f"label_values(pilotzone_zone_config_info, {ZONE_VARIABLE})")
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
    )
    zone = "{" + _ZONE + "}"
    board = (
        board.with_row(_row(200, "Zone $pilot_zone"))
        .with_panel(
            _stat(
                1,
                "Zone-config version in force",
                "The zone-config version (content hash) behind the zone's latest figures; quote it when "
                "asking an operator about an incident. The overview lists every version in the range.",
                "short",
                [Query(f"max by (config_version) (pilotzone_zone_config_info{zone})", "{{config_version}}")],
                span=8,
                height=4,
                text_mode=common.BigValueTextMode.NAME,
            )
        )
        .with_panel(
            _stat(
                2,
                "Compliance ratio in the selected range",
                "1 − (time in violation of any rule ÷ vehicle operating time) over the selected range.",
                "percentunit",
                [Query(_compliance("pilot_zone", zone, "$__range"), "{{pilot_zone}}")],
                span=8,
                height=4,
                thresholds=_thresholds((None, "red"), (0.95, "orange"), (0.99, "green")),
                text_mode=common.BigValueTextMode.VALUE,
                decimals=2,
            )
        )
        .with_panel(
            _stat(
                3,
                "Latest telemetry age",
                "Time since the end of the zone's latest summary window with any telemetry.",
                "s",
                [Query(f"time() - max(pilotzone_latest_telemetry_timestamp_seconds{zone})")],
                span=8,
                height=4,
                thresholds=_thresholds((None, "green"), (900, "orange"), (3600, "red")),
                text_mode=common.BigValueTextMode.VALUE,
                decimals=0,
            )
        )
        .with_row(_row(201, "Violations and incidents by rule"))
        .with_panel(
            _timeseries(
                4,
                "Vehicles in violation, by rule",
                "Violation seconds per second: the average number of vehicles in violation of each rule "
                "at once (after the rule's grace period).",
                "short",
                [
                    Query(
                        f"sum by (rule) (rate(pilotzone_violation_seconds_total{zone}[$__rate_interval]))",
                        "{{rule}}",
                    )
                ],
            )
        )
        .with_panel(
            _table(
                5,
                "Violation time by rule, operator and vehicle class",
                "Time vehicles spent in violation of each rule in the selected range, per operator and "
                "vehicle class, summed over vehicles.",
                "s",
                [
                    Query(
                        "sum by (rule, operator, vehicle_class) "
                        f"(increase(pilotzone_violation_seconds_total{zone}[$__range])) > 0"
                    )
                ],
                columns={
                    "rule": "Rule",
                    "operator": "Operator",
                    "vehicle_class": "Vehicle class",
                    "Value": "Violation time",
                },
                sort_by="Value",
                decimals=0,
            )
        )
        .with_panel(
            _table(
                6,
                "Incidents opened by rule and severity",
                "Incidents opened in the selected range per rule, rule kind, severity and operator.",
                "short",
                [
                    Query(
                        "sum by (rule, kind, severity, operator) "
                        f"(increase(pilotzone_incidents_total{zone}[$__range])) > 0"
                    )
                ],
                columns={
                    "rule": "Rule",
                    "kind": "Kind",
                    "severity": "Severity",
                    "operator": "Operator",
                    "Value": "Incidents",
                },
                sort_by="Value",
                decimals=0,
            )
        )
        .with_panel(
            _table(
                7,
                "Open incidents and reports due, by rule",
                "Per rule and severity: incidents still open, regulator reports still due and the earliest "
                "report deadline (Korean time), as of the monitor's latest figures.",
                "short",
                [
                    Query(f"sum by (rule, severity) (pilotzone_open_incidents{zone})"),
                    Query(f"sum by (rule, severity) (pilotzone_reports_due{zone})"),
                    Query(
                        f"min by (rule, severity) (pilotzone_report_deadline_timestamp_seconds{zone}) * 1000"
                    ),
                ],
                columns={
                    "rule": "Rule",
                    "severity": "Severity",
                    "Value #A": "Open",
                    "Value #B": "Reports due",
                    "Value #C": "Next deadline",
                },
                decimals=0,
            ).override_by_name(
                "Next deadline", [dashboard.DynamicConfigValue(id_val="unit", value="dateTimeAsIso")]
            )
        )
        .with_row(_row(202, "Fleet by operator and vehicle class"))
        .with_panel(
            _dashed_permits(
                _timeseries(
                    8,
                    "Active vehicles by operator vs permitted",
                    "Vehicles of each operator that sent telemetry in the latest summary window, next to the "
                    "number the operator's permit allows at once (no line: no cap).",
                    "short",
                    [
                        Query(f"sum by (operator) (pilotzone_active_vehicles{zone})", "{{operator}} active"),
                        Query(
                            f"max by (operator) (pilotzone_permitted_vehicles{zone})",
                            "{{operator}} permitted",
                        ),
                    ],
                )
            )
        )
        .with_panel(
            _timeseries(
                9,
                "Active vehicles by vehicle class",
                "Vehicles of each class that sent telemetry in the latest summary window.",
                "short",
                [Query(f"sum by (vehicle_class) (pilotzone_active_vehicles{zone})", "{{vehicle_class}}")],
            )
        )
        .with_panel(
            _timeseries(
                10,
                "Samples evaluated per second, by operator and vehicle class",
                "Telemetry samples checked against the zone rules: a fleet that goes quiet while its "
                "vehicles are active is not being monitored.",
                "recps",
                [
                    Query(
                        "sum by (operator, vehicle_class) "
                        f"(rate(pilotzone_samples_total{zone}[$__rate_interval]))",
                        "{{operator}} · {{vehicle_class}}",
                    )
                ],
            )
        )
        .with_panel(
            _table(
                11,
                "Distance by driving mode, operator and vehicle class",
                "Distance driven in the selected range in each driving mode (AUTONOMOUS, MANUAL, "
                "REMOTE_OPERATED ...), per operator and vehicle class.",
                "lengthm",
                [
                    Query(
                        "sum by (driving_mode, operator, vehicle_class) "
                        f"(increase(pilotzone_distance_meters_total{zone}[$__range])) > 0"
                    )
                ],
                columns={
                    "operator": "Operator",
                    "vehicle_class": "Vehicle class",
                    "driving_mode": "Driving mode",
                    "Value": "Distance",
                },
                sort_by="Value",
                decimals=1,
            )
        )
        .with_panel(
            _stat(
                12,
                "Disengagements and remote takeovers per 1,000 autonomous km, by operator",
                "Events reported in the selected range divided by the operator's distance in AUTONOMOUS "
                "mode. Operators without autonomous distance in the range show nothing.",
                "short",
                [
                    Query(
                        _per_1000_autonomous_km("pilotzone_disengagements_total", "operator", zone),
                        "{{operator}} disengagements",
                    ),
                    Query(
                        _per_1000_autonomous_km("pilotzone_remote_takeovers_total", "operator", zone),
                        "{{operator}} remote takeovers",
                    ),
                ],
                span=24,
                height=6,
                decimals=2,
            )
        )
    )
    return board


def pipeline_health() -> dashboard_builders.Dashboard:
    """Pipeline health: whether the figures on the other dashboards are complete and current."""
    board = _dashboard(
        PIPELINE_UID,
        "Pilot-zone monitor: pipeline health",
        "Whether the compliance pipeline reads its input, how much it rejects and why, and how far "
        "behind real time its figures are.",
        time_from="now-6h",
        refresh="1m",
    )
    delay = "pilotzone_event_processing_delay_seconds"
    board = (
        board.with_row(_row(300, "Input"))
        .with_panel(
            _stat(
                1,
                "Pipeline runs in progress",
                "Pipeline runs that are still running. 0 ('Finished'): every run has ended and the "
                "figures on the other dashboards are final.",
                "short",
                [Query("sum(pilotzone_pipeline_running)")],
                span=6,
                height=8,
                text_mode=common.BigValueTextMode.VALUE,
                mappings=[
                    dashboard.ValueMap(
                        options={"0": dashboard.ValueMappingResult(text="Finished", color="blue")}
                    )
                ],
            )
        )
        .with_panel(
            _timeseries(
                2,
                "Records read per second",
                "Telemetry records read from the input, good or bad (= evaluated + dead-lettered).",
                "recps",
                [Query("sum(rate(pilotzone_records_read_total[$__rate_interval]))", "records read")],
                span=9,
            )
        )
        .with_panel(
            _timeseries(
                3,
                "Samples evaluated per second, by pilot zone",
                "Samples that passed decoding and were evaluated against each zone's rules.",
                "recps",
                [
                    Query(
                        "sum by (pilot_zone) (rate(pilotzone_samples_total[$__rate_interval]))",
                        "{{pilot_zone}}",
                    )
                ],
                span=9,
            )
        )
        .with_row(_row(301, "Rejected input"))
        .with_panel(
            _timeseries(
                4,
                "Dead letters per second, by reason",
                "Records sent to the dead-letter sink instead of being evaluated: corrupt, out of range, "
                "duplicate, late ... Samples that never reach the rules cannot raise incidents.",
                "recps",
                [
                    Query(
                        "sum by (reason) (rate(pilotzone_dead_letters_total[$__rate_interval]))", "{{reason}}"
                    )
                ],
            )
        )
        .with_panel(
            _stat(
                5,
                "Dead-letter share in the selected range",
                "Dead-lettered records as a share of records read. Orange from 1 %, red from 5 %.",
                "percentunit",
                [
                    Query(
                        _ratio_or_zero(
                            "sum(increase(pilotzone_dead_letters_total[$__range]))",
                            "sum(increase(pilotzone_records_read_total[$__range]))",
                        )
                    )
                ],
                thresholds=_thresholds((None, "green"), (0.01, "orange"), (0.05, "red")),
                text_mode=common.BigValueTextMode.VALUE,
                decimals=2,
            )
        )
        .with_panel(
            _timeseries(
                6,
                "Late samples per second",
                "Samples that arrived after their vehicle had been evaluated past them; they are "
                "dead-lettered as late and missing from the compliance figures.",
                "recps",
                [Query("sum(rate(pilotzone_late_samples_total[$__rate_interval]))", "late samples")],
                span=6,
            )
        )
        .with_row(_row(302, "Timeliness"))
        .with_panel(
            _timeseries(
                7,
                "Event-to-processing delay (p50, p90, p99)",
                "Delay between a sample's GNSS time and its decoding. Vehicles upload about a minute at a "
                "time, so 5 s to 2 min is healthy; 5-15 min means uploads back up; hours mean replayed or "
                "offline vehicles.",
                "s",
                [
                    Query(
                        f"histogram_quantile({quantile}, sum by (le) (rate({delay}_bucket[$__rate_interval])))",
                        f"p{round(quantile * 100)}",
                    )
                    for quantile in (0.5, 0.9, 0.99)
                ],
            )
        )
        .with_panel(
            _timeseries(
                8,
                "Mean event-to-processing delay",
                "Average delay between a sample's GNSS time and its decoding.",
                "s",
                [
                    Query(
                        f"sum(rate({delay}_sum[$__rate_interval])) / sum(rate({delay}_count[$__rate_interval]))",
                        "mean",
                    )
                ],
                span=6,
            )
        )
        .with_panel(
            _timeseries(
                9,
                "Watermark lag",
                "Wall-clock time minus the event time up to which the slowest pipeline run has evaluated "
                "its input: figures for events newer than this are not in the dashboards yet. A replay "
                "of stored telemetry lags by the age of that telemetry.",
                "s",
                [Query("time() - min(pilotzone_watermark_timestamp_seconds)", "watermark lag")],
                span=6,
            )
        )
    )
    return board


_BUILDERS = {OVERVIEW_UID: overview, ZONE_UID: zone_detail, PIPELINE_UID: pipeline_health}


# --- JSON -------------------------------------------------------------------------------------


def dashboard_json(uid: str) -> dict[str, Any]:
    """The dashboard ``uid`` as plain JSON data (what Grafana's provisioning reads)."""
    model = _BUILDERS[uid]().build()
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data


def all_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard by uid."""
    return {uid: dashboard_json(uid) for uid in DASHBOARD_UIDS}


def render(data: Mapping[str, Any]) -> str:
    """Stable text for a dashboard: sorted keys, 2-space indent, trailing newline.

    Stable so that regenerating gives a byte-identical file and a diff shows only real changes.
    """
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_dashboards(out_dir: Path) -> list[Path]:
    """Write ``<uid>.json`` for every dashboard into ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, data in all_dashboards().items():
        path = out_dir / f"{uid}.json"
        path.write_text(render(data), encoding="utf-8")
        written.append(path)
    return written


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def panel_queries(dashboard_json: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, PromQL expr)`` for every query target of every panel, in dashboard order.

    The exprs still hold Grafana's template variables (``$pilot_zone``, ``$__range`` ...);
    ``concrete_queries`` substitutes them.
    """
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard_json.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` in ``expr``; a variable without a value is an error.

    Raising (rather than leaving ``$name``) means a new template variable cannot slip past the
    integration test that evaluates every query.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


_LABEL_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def concrete_queries(*, pilot_zone: str, interval: str = "5m", time_range: str = "1h") -> list[ConcreteQuery]:
    """Every panel query of every dashboard as Prometheus would receive it from Grafana.

    ``interval`` stands for ``$__interval`` and ``$__rate_interval``, ``time_range`` for
    ``$__range``; ``pilot_zone`` is the zone picked on the zone-detail dashboard.

    >>> concrete_queries(pilot_zone="gwangju", interval="5m")[0].expr
    'sum by (pilot_zone) (pilotzone_active_vehicles)'
    """
    if not _LABEL_VALUE.match(pilot_zone):
        raise ValueError(f"pilot_zone {pilot_zone!r} is not a zone id (letters, digits, '_', '.', '-')")
    for name, duration in (("interval", interval), ("time_range", time_range)):
        if not _DURATION.match(duration):
            raise ValueError(f"{name} {duration!r} is not a PromQL duration such as 5m or 1h30m")
    values = {
        ZONE_VARIABLE: pilot_zone,
        "__interval": interval,
        "__rate_interval": interval,
        "__range": time_range,
    }
    return [
        ConcreteQuery(uid, title, substitute(expr, values))
        for uid, data in all_dashboards().items()
        for title, expr in panel_queries(data)
    ]
