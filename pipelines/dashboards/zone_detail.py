"""The zone detail dashboard: one pilot zone, picked with the ``pilot_zone`` variable."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import common, dashboard

from pilotzone.pipelines.dashboards.panels import (
    DATASOURCE,
    absolute_thresholds,
    base_dashboard,
    dashed_permits,
    row_panel,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from pilotzone.pipelines.dashboards.queries import (
    ZONE_SELECTOR,
    ZONE_VARIABLE,
    Query,
    compliance_ratio,
    per_1000_autonomous_km,
)

ZONE_UID = "pilotzone-zone"


def zone_detail() -> dashboard_builders.Dashboard:
    """One pilot zone: which rule, operator and vehicle class is behind each figure of the overview."""
    board = base_dashboard(
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
        .datasource(DATASOURCE)
        .query(f"label_values(pilotzone_zone_config_info, {ZONE_VARIABLE})")
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
    )
    zone = "{" + ZONE_SELECTOR + "}"
    board = (
        board.with_row(row_panel(200, "Zone $pilot_zone"))
        .with_panel(
            stat_panel(
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
            stat_panel(
                2,
                "Compliance ratio in the selected range",
                "1 − (time in violation of any rule ÷ vehicle operating time) over the selected range.",
                "percentunit",
                [Query(compliance_ratio("pilot_zone", zone, "$__range"), "{{pilot_zone}}")],
                span=8,
                height=4,
                thresholds=absolute_thresholds((None, "red"), (0.95, "orange"), (0.99, "green")),
                text_mode=common.BigValueTextMode.VALUE,
                decimals=2,
            )
        )
        .with_panel(
            stat_panel(
                3,
                "Latest telemetry age",
                "Time since the end of the zone's latest summary window with any telemetry.",
                "s",
                [Query(f"time() - max(pilotzone_latest_telemetry_timestamp_seconds{zone})")],
                span=8,
                height=4,
                thresholds=absolute_thresholds((None, "green"), (900, "orange"), (3600, "red")),
                text_mode=common.BigValueTextMode.VALUE,
                decimals=0,
            )
        )
        .with_row(row_panel(201, "Violations and incidents by rule"))
        .with_panel(
            timeseries_panel(
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
            table_panel(
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
            table_panel(
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
            table_panel(
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
        .with_row(row_panel(202, "Fleet by operator and vehicle class"))
        .with_panel(
            dashed_permits(
                timeseries_panel(
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
            timeseries_panel(
                9,
                "Active vehicles by vehicle class",
                "Vehicles of each class that sent telemetry in the latest summary window.",
                "short",
                [Query(f"sum by (vehicle_class) (pilotzone_active_vehicles{zone})", "{{vehicle_class}}")],
            )
        )
        .with_panel(
            timeseries_panel(
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
            table_panel(
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
            stat_panel(
                12,
                "Disengagements and remote takeovers per 1,000 autonomous km, by operator",
                "Events reported in the selected range divided by the operator's distance in AUTONOMOUS "
                "mode. Operators without autonomous distance in the range show nothing.",
                "short",
                [
                    Query(
                        per_1000_autonomous_km("pilotzone_disengagements_total", "operator", zone),
                        "{{operator}} disengagements",
                    ),
                    Query(
                        per_1000_autonomous_km("pilotzone_remote_takeovers_total", "operator", zone),
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
