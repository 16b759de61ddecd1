"""The pipeline health dashboard: what operators of the monitor itself watch."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import common, dashboard

from pilotzone.pipelines.dashboards.panels import (
    absolute_thresholds,
    base_dashboard,
    row_panel,
    stat_panel,
    timeseries_panel,
)
from pilotzone.pipelines.dashboards.queries import Query, ratio_or_zero

PIPELINE_UID = "pilotzone-pipeline"


def pipeline_health() -> dashboard_builders.Dashboard:
    """Pipeline health: whether the figures on the other dashboards are complete and current."""
    board = base_dashboard(
        PIPELINE_UID,
        "Pilot-zone monitor: pipeline health",
        "Whether the compliance pipeline reads its input, how much it rejects and why, and how far "
        "behind real time its figures are.",
        time_from="now-6h",
        refresh="1m",
    )
    delay = "pilotzone_event_processing_delay_seconds"
    board = (
        board.with_row(row_panel(300, "Input"))
        .with_panel(
            stat_panel(
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
            timeseries_panel(
                2,
                "Records read per second",
                "Telemetry records read from the input, good or bad (= evaluated + dead-lettered).",
                "recps",
                [Query("sum(rate(pilotzone_records_read_total[$__rate_interval]))", "records read")],
                span=9,
            )
        )
        .with_panel(
            timeseries_panel(
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
        .with_row(row_panel(301, "Rejected input"))
        .with_panel(
            timeseries_panel(
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
            stat_panel(
                5,
                "Dead-letter share in the selected range",
                "Dead-lettered records as a share of records read. Orange from 1 %, red from 5 %.",
                "percentunit",
                [
                    Query(
                        ratio_or_zero(
                            "sum(increase(pilotzone_dead_letters_total[$__range]))",
                            "sum(increase(pilotzone_records_read_total[$__range]))",
                        )
                    )
                ],
                thresholds=absolute_thresholds((None, "green"), (0.01, "orange"), (0.05, "red")),
                text_mode=common.BigValueTextMode.VALUE,
                decimals=2,
            )
        )
        .with_panel(
            timeseries_panel(
                6,
                "Late samples per second",
                "Samples that arrived after their vehicle had been evaluated past them; they are "
                "dead-lettered as late and missing from the compliance figures.",
                "recps",
                [Query("sum(rate(pilotzone_late_samples_total[$__rate_interval]))", "late samples")],
                span=6,
            )
        )
        .with_row(row_panel(302, "Timeliness"))
        .with_panel(
            timeseries_panel(
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
            timeseries_panel(
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
            timeseries_panel(
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
