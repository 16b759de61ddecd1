"""Panel and dashboard builders every pilotzone dashboard is made of.

Every panel reads its data source from the ``datasource`` template variable: a regulator with
several Prometheus servers (one per region, say) switches them in one place. Stat and table
panels show the selected time range (``$__range``); time-series panels show how a figure moved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models import prometheus as prometheus_models

from pilotzone.pipelines.dashboards.queries import Query

DATASOURCE_VARIABLE = "datasource"
TAGS = ["pilotzone"]
TIMEZONE = "Asia/Seoul"
"""Every pilot zone is in Korea and incident deadlines are in Korean time, so a regulator
reading a dashboard abroad still sees the times the operators and the permits use."""

REFRESH_INTERVALS = ["1m", "5m", "15m", "1h"]
"""The monitor publishes per summary window (about a minute); refreshing faster than that
only loads Prometheus without showing anything new."""

DATASOURCE = dashboard.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")


def query_targets(
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


def absolute_thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds; the first step (value ``None``) is the base colour."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps([dashboard.Threshold(value=value, color=color) for value, color in steps])
    )


def timeseries_panel(
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
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(query_targets(queries, instant=False))
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


def stat_panel(
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
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(query_targets(queries, instant=True))
        .span(span)
        .height(height)
        .thresholds(thresholds or absolute_thresholds((None, "text")))
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


def table_panel(
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
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(query_targets(queries, instant=True, table_format=True))
        .span(span)
        .height(height)
        .thresholds(absolute_thresholds((None, "text")))
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


def dashed_permits(panel: timeseries.Panel) -> timeseries.Panel:
    """Draw the series named '... permitted' dashed: a cap, not a measurement."""
    return panel.override_by_regexp(
        ".* permitted$",
        [dashboard.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]})],
    )


def row_panel(row_id: int, title: str) -> dashboard_builders.Row:
    """An expanded row: a heading; the panels that follow it on the grid belong to it."""
    return dashboard_builders.Row(title).id(row_id).collapsed(False)


def base_dashboard(
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


def incident_count_stat(
    panel_id: int,
    title: str,
    description: str,
    series: str,
    *,
    thresholds: dashboard_builders.ThresholdsConfig | None = None,
) -> stat.Panel:
    """Whole incidents per zone and severity: the legend names the labels the sum keeps, none is 0."""
    return stat_panel(
        panel_id,
        title,
        description,
        "short",
        [Query(f"sum by (pilot_zone, severity) ({series})", "{{pilot_zone}} · {{severity}}")],
        thresholds=thresholds,
        decimals=0,
        no_value="0",
    )
