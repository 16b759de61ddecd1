"""The regulator overview: every pilot zone side by side."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders

from pilotzone.pipelines.dashboards.panels import (
    absolute_thresholds,
    base_dashboard,
    dashed_permits,
    incident_count_stat,
    row_panel,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from pilotzone.pipelines.dashboards.queries import Query, compliance_ratio, per_1000_autonomous_km

OVERVIEW_UID = "pilotzone-overview"


def overview() -> dashboard_builders.Dashboard:
    """Regulator overview: every pilot zone side by side, one figure per question a regulator asks."""
    board = base_dashboard(
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
        board.with_row(row_panel(100, "Fleet against permits"))
        .with_panel(
            dashed_permits(
                timeseries_panel(
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
            stat_panel(
                2,
                "Permit use now",
                "Active vehicles as a share of the zone-wide permit. Orange from 90 %, red at 100 % or "
                "more: the zone runs at or above the number of vehicles its permit allows.",
                "percentunit",
                [Query(f"{active} / {zone_cap}", "{{pilot_zone}}")],
                span=8,
                height=8,
                thresholds=absolute_thresholds((None, "green"), (0.9, "orange"), (1.0, "red")),
            )
        )
        .with_row(row_panel(101, "Compliance and incidents"))
        .with_panel(
            stat_panel(
                3,
                "Compliance ratio in the selected range",
                "1 − (time in violation of any rule ÷ vehicle operating time) per zone over the selected "
                "range. Time in violation of two rules at once counts twice, so this is a lower bound. "
                "Red below 95 %, orange below 99 %.",
                "percentunit",
                [Query(compliance_ratio("pilot_zone", "", "$__range"), "{{pilot_zone}}")],
                span=8,
                thresholds=absolute_thresholds((None, "red"), (0.95, "orange"), (0.99, "green")),
                decimals=2,
            )
        )
        .with_panel(
            timeseries_panel(
                4,
                "Compliance ratio over time",
                "The compliance ratio per zone over a sliding window: a dip shows when vehicles spent "
                "time in violation; the zone-detail dashboard shows which rule.",
                "percentunit",
                [Query(compliance_ratio("pilot_zone", "", "$__rate_interval"), "{{pilot_zone}}")],
                span=16,
                height=6,
                max_value=1,
            )
        )
        .with_panel(
            incident_count_stat(
                5,
                "Incidents opened in the selected range, by severity",
                "Incidents the monitor opened per zone and severity in the selected range (every rule, "
                "every operator). The zone-detail dashboard breaks them down by rule.",
                "increase(pilotzone_incidents_total[$__range])",
            )
        )
        .with_panel(
            incident_count_stat(
                6,
                "Open incidents now",
                "Incidents without an end time when the monitor last published its figures, per zone and "
                "severity.",
                "pilotzone_open_incidents",
                thresholds=absolute_thresholds((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            incident_count_stat(
                7,
                "Regulator reports due",
                "Incidents whose report to the regulator is still due (deadline ahead), per zone and severity.",
                "pilotzone_reports_due",
                thresholds=absolute_thresholds((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            stat_panel(
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
        .with_panel(
            table_panel(
                13,
                "Regulator reports by operator: outstanding, overdue, filed",
                "From the incident register (pilotzone incidents metrics), read at each scrape: per zone, "
                "operator and severity, the reports not yet filed with their deadline ahead, those whose "
                "deadline has passed with no report, and those filed. Overdue stays until the report is "
                "filed (pilotzone incidents file).",
                "short",
                [
                    Query(f"sum by (pilot_zone, operator, severity) (pilotzone_reports_{status})")
                    for status in ("outstanding", "overdue", "filed")
                ],
                columns={
                    "pilot_zone": "Pilot zone",
                    "operator": "Operator",
                    "severity": "Severity",
                    "Value #A": "Outstanding",
                    "Value #B": "Overdue",
                    "Value #C": "Filed",
                },
                span=24,
                decimals=0,
                sort_by="Value #B",
            )
        )
        .with_row(row_panel(102, "Safety per 1,000 autonomous km"))
        .with_panel(
            stat_panel(
                9,
                "Disengagements per 1,000 autonomous km",
                "Disengagements reported in the selected range divided by the distance driven in "
                "AUTONOMOUS mode, per zone. Zones without autonomous distance in the range show nothing.",
                "short",
                [
                    Query(
                        per_1000_autonomous_km("pilotzone_disengagements_total", "pilot_zone", ""),
                        "{{pilot_zone}}",
                    )
                ],
                span=12,
                decimals=2,
            )
        )
        .with_panel(
            stat_panel(
                10,
                "Remote takeovers per 1,000 autonomous km",
                "Remote takeovers reported in the selected range divided by the distance driven in "
                "AUTONOMOUS mode, per zone.",
                "short",
                [
                    Query(
                        per_1000_autonomous_km("pilotzone_remote_takeovers_total", "pilot_zone", ""),
                        "{{pilot_zone}}",
                    )
                ],
                span=12,
                decimals=2,
            )
        )
        .with_row(row_panel(103, "Configuration and freshness"))
        .with_panel(
            table_panel(
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
            stat_panel(
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
                thresholds=absolute_thresholds((None, "green"), (900, "orange"), (3600, "red")),
                decimals=0,
            )
        )
        .with_row(row_panel(104, "Emergency fences"))
        .with_panel(
            timeseries_panel(
                14,
                "Vehicles breaking an emergency fence",
                "Open emergency-fence incidents per zone and fence (rule fence:<id>): vehicles still inside "
                "a fence after its exit deadline, or inside after entering once it took effect. Each "
                "vehicle leaves the count when it leaves the fence or the fence ends; the alert "
                "EmergencyFenceBreached fires while it is above zero.",
                "short",
                [
                    Query(
                        'sum by (pilot_zone, rule) (pilotzone_open_incidents{rule=~"fence:.+"})',
                        "{{pilot_zone}} {{rule}}",
                    )
                ],
                span=16,
            )
        )
        .with_panel(
            stat_panel(
                15,
                "Fence incidents opened in the selected range",
                "Emergency-fence incidents opened per zone and fence in the selected range: late exits "
                "and entries together.",
                "short",
                [
                    Query(
                        'sum by (pilot_zone, rule) (increase(pilotzone_incidents_total{kind="emergency_fence"}[$__range]))',
                        "{{pilot_zone}} {{rule}}",
                    )
                ],
                span=8,
                height=8,
                decimals=0,
                no_value="none",
            )
        )
        .with_panel(
            timeseries_panel(
                16,
                "Vehicles inside an emergency fence",
                "Vehicles inside an emergency fence in force, per zone and fence, whether still within "
                "their exit deadline or past it, by their last fix. Figures stand at the event time the "
                "monitor has judged (the watermark of a stream), so a stalled feed shows the last known "
                "count. A vehicle leaves the count at its first fix outside or when the fence ends.",
                "short",
                [Query(f"sum by (pilot_zone, fence) ({FENCE_INSIDE})", "{{pilot_zone}} {{fence}}")],
                span=16,
            )
        )
        .with_panel(
            stat_panel(
                17,
                "Emergency fences in force",
                "Emergency fences in force per zone at the event time the monitor has judged. Orange "
                "while any is: vehicles of the classes it names must leave and stay out.",
                "short",
                [Query("sum by (pilot_zone) (pilotzone_fences_in_force)", "{{pilot_zone}}")],
                span=8,
                height=8,
                thresholds=absolute_thresholds((None, "green"), (1, "orange")),
                decimals=0,
            )
        )
        .with_panel(
            stat_panel(
                18,
                "Time to leave an emergency fence in the selected range",
                "Median and 90th percentile of the time vehicles took to leave a fence, per zone and "
                "fence: from the fence taking effect for vehicles inside then, from their entry for "
                "the others, to their first fix outside. Orange from 90 s, red from 120 s (the default "
                "exit deadline). Estimated from histogram buckets (5, 15, 30, 60, 90, 120, 180, 300, "
                "600 s).",
                "s",
                [
                    Query(exit_quantile(0.5), "{{pilot_zone}} {{fence}} median"),
                    Query(exit_quantile(0.9), "{{pilot_zone}} {{fence}} 90th percentile"),
                ],
                span=16,
                height=8,
                thresholds=absolute_thresholds((None, "green"), (90, "orange"), (120, "red")),
                decimals=0,
            )
        )
        .with_panel(
            stat_panel(
                19,
                "Fence exits slower than 2 minutes in the selected range",
                "Vehicles that took more than 120 s (the default exit deadline) to leave a fence, per "
                "zone and fence, in the selected range. Those still inside are not counted until they "
                "leave: see the vehicles inside.",
                "short",
                [
                    Query(
                        f'sum by (pilot_zone, fence) (increase({FENCE_EXIT}_bucket{{le="+Inf"}}[$__range])) - '
                        f'sum by (pilot_zone, fence) (increase({FENCE_EXIT}_bucket{{le="120.0"}}[$__range]))',
                        "{{pilot_zone}} {{fence}}",
                    )
                ],
                span=8,
                height=8,
                decimals=0,
                no_value="none",
            )
        )
    )
    return board


FENCE_INSIDE = "pilotzone_fence_vehicles_inside"
FENCE_EXIT = "pilotzone_fence_exit_seconds"


def exit_quantile(quantile: float) -> str:
    """A quantile of the time to leave a fence over the selected range, per zone and fence."""
    return (
        f"histogram_quantile({quantile}, sum by (pilot_zone, fence, le) "
        f"(increase({FENCE_EXIT}_bucket[$__range])))"
    )
