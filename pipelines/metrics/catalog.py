"""The metric catalog: every series the monitor exports, with its type, unit, labels and meaning.

This list is the single source for the exporter, the README's catalog table, the Prometheus
rules and the Grafana dashboards; tests check each of them against it.

Naming follows Prometheus practice: one ``pilotzone_`` prefix, base units (seconds, metres)
in the name, ``_total`` on counters, ``_info`` on the config-version info gauge. No series
carries a vehicle id: the monitor watches fleets, and a regulator's dashboard must not become
a tracker of individual vehicles. ``pilot_zone`` (not ``zone``) avoids clashing with the
target labels that clouds and Kubernetes attach.
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER = "counter"
GAUGE = "gauge"
HISTOGRAM = "histogram"
INFO = "info"

FLEET_LABELS = ("pilot_zone", "operator", "vehicle_class")
REGISTER_LABELS = ("pilot_zone", "operator", "severity")
FENCE_LABELS = ("pilot_zone", "fence", "operator", "vehicle_class")

FENCE_EXIT_BUCKETS_S = (5.0, 15.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
"""Time-to-exit buckets. The usual order is "out within 120 s": the buckets on either side of
it (90, 120, 180) tell an order met with little margin from one missed by a little, and 5-60 s
show how quickly a fleet reacts; past 10 minutes is a failure whatever the order said."""

DELAY_BUCKETS_S = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
"""Event-to-processing delay buckets. Vehicles upload a file per time slice (about a minute),
so a healthy stream sits between 5 s and 2 min; 5-15 min means uploads are backing up; hours
and a day catch replays of stored telemetry and vehicles that were offline."""


def delay_bucket_counter(index: int) -> str:
    """Beam counter of samples whose delay fell into bucket ``index`` (the last one is +Inf).

    The delay histogram is kept as runner-aggregated Beam counters (one per bucket, not
    cumulative) so its totals are exact over any number of workers, like every other total.
    """
    return f"delay_bucket_{index:02d}"


PIPELINE = "pipeline"
REGISTER = "register"


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric family."""

    name: str
    """Family name as exposed (counters with ``_total``)."""
    type: str
    unit: str
    labels: tuple[str, ...]
    help: str
    source: str = PIPELINE
    """Who exports it: the pipeline's exporter, or the incident register's
    (``pilotzone incidents metrics``), which alone knows which reports were filed."""

    @property
    def family(self) -> str:
        """The name without the ``_total`` suffix, as client libraries and OpenMetrics use it."""
        return self.name.removesuffix("_total") if self.type == COUNTER else self.name.removesuffix("_info")


CATALOG: tuple[MetricSpec, ...] = (
    # Fleet activity, from the pipeline's window summaries.
    MetricSpec(
        "pilotzone_samples_total",
        COUNTER,
        "samples",
        FLEET_LABELS,
        "Telemetry samples evaluated against the zone rules (decoded, in order, not duplicates).",
    ),
    MetricSpec(
        "pilotzone_vehicle_seconds_total",
        COUNTER,
        "seconds",
        FLEET_LABELS,
        "Vehicle operating time observed: time between consecutive fixes, telemetry gaps excluded.",
    ),
    MetricSpec(
        "pilotzone_distance_meters_total",
        COUNTER,
        "meters",
        (*FLEET_LABELS, "driving_mode"),
        "Distance between consecutive fixes (gaps excluded), by the driving mode at each step's start.",
    ),
    MetricSpec(
        "pilotzone_active_vehicles",
        GAUGE,
        "vehicles",
        FLEET_LABELS,
        "Vehicles that sent at least one sample in the latest summary window of the pilot zone.",
    ),
    MetricSpec(
        "pilotzone_disengagements_total",
        COUNTER,
        "events",
        FLEET_LABELS,
        "Disengagement events reported by vehicles (autonomous system handing control back).",
    ),
    MetricSpec(
        "pilotzone_remote_takeovers_total",
        COUNTER,
        "events",
        FLEET_LABELS,
        "Remote takeover events reported by vehicles (a remote operator took control).",
    ),
    # Compliance, from window summaries and the incident log.
    MetricSpec(
        "pilotzone_violation_seconds_total",
        COUNTER,
        "seconds",
        (*FLEET_LABELS, "rule"),
        "Time vehicles spent in violation of each rule (after the rule's grace), summed over vehicles.",
    ),
    MetricSpec(
        "pilotzone_incidents_total",
        COUNTER,
        "incidents",
        ("pilot_zone", "operator", "rule", "kind", "severity"),
        "Incidents opened, by the rule that raised them, its kind and severity.",
    ),
    MetricSpec(
        "pilotzone_open_incidents",
        GAUGE,
        "incidents",
        ("pilot_zone", "rule", "severity"),
        "Incidents still open (no end time yet) when the figures were last computed.",
    ),
    MetricSpec(
        "pilotzone_report_deadline_timestamp_seconds",
        GAUGE,
        "seconds",
        ("pilot_zone", "rule", "severity"),
        "Earliest regulator report deadline (Unix time) among incidents whose deadline is still ahead.",
    ),
    MetricSpec(
        "pilotzone_reports_due",
        GAUGE,
        "incidents",
        ("pilot_zone", "rule", "severity"),
        "Incidents whose regulator report deadline is still ahead.",
    ),
    # Reporting obligations, from the incident register (read at the moment of the scrape).
    MetricSpec(
        "pilotzone_reports_outstanding",
        GAUGE,
        "incidents",
        REGISTER_LABELS,
        "Incidents in the register whose regulator report is not filed and whose deadline is still ahead.",
        REGISTER,
    ),
    MetricSpec(
        "pilotzone_reports_overdue",
        GAUGE,
        "incidents",
        REGISTER_LABELS,
        "Incidents in the register whose regulator report deadline has passed with no report filed.",
        REGISTER,
    ),
    MetricSpec(
        "pilotzone_reports_filed",
        GAUGE,
        "incidents",
        REGISTER_LABELS,
        "Incidents in the register whose regulator report has been filed (on time or late).",
        REGISTER,
    ),
    # Zone configuration.
    MetricSpec(
        "pilotzone_zone_config_info",
        INFO,
        "",
        ("pilot_zone", "config_version"),
        "The zone-config version (content hash) that produced every figure of the pilot zone; value 1.",
    ),
    MetricSpec(
        "pilotzone_permitted_vehicles",
        GAUGE,
        "vehicles",
        ("pilot_zone", "operator"),
        "Vehicles an operator may run at once in the pilot zone (from its permit; absent if uncapped).",
    ),
    MetricSpec(
        "pilotzone_zone_permitted_vehicles",
        GAUGE,
        "vehicles",
        ("pilot_zone",),
        "Vehicles all operators together may run at once in the pilot zone (absent if uncapped).",
    ),
    MetricSpec(
        "pilotzone_latest_telemetry_timestamp_seconds",
        GAUGE,
        "seconds",
        ("pilot_zone",),
        "End (Unix time) of the latest summary window in which the pilot zone had any sample.",
    ),
    # Emergency fences (only when fences are configured). "Now" is the event time fence judging
    # has reached (the last fix in a replay, the watermark less the allowed lateness in a stream).
    MetricSpec(
        "pilotzone_fence_vehicles_inside",
        GAUGE,
        "vehicles",
        FENCE_LABELS,
        "Vehicles inside an emergency fence in force (in their exit grace or past it), as of the latest "
        "event time judged (last fix of a replay, watermark of a stream), by their last fix.",
    ),
    MetricSpec(
        "pilotzone_fences_in_force",
        GAUGE,
        "fences",
        ("pilot_zone",),
        "Emergency fences in force as of the latest event time judged (last fix of a replay, watermark "
        "of a stream).",
    ),
    MetricSpec(
        "pilotzone_fence_exit_seconds",
        HISTOGRAM,
        "seconds",
        FENCE_LABELS,
        "Time vehicles took to leave an emergency fence: from the fence taking effect (inside then) or "
        "from their entry (later) to their first fix outside.",
    ),
    # Pipeline health.
    MetricSpec(
        "pilotzone_records_read_total",
        COUNTER,
        "records",
        (),
        "Telemetry records read from the input, good or bad (= evaluated + dead-lettered).",
    ),
    MetricSpec(
        "pilotzone_dead_letters_total",
        COUNTER,
        "records",
        ("reason",),
        "Records sent to the dead-letter sink, by reason (corrupt, out_of_range, duplicate, late ...).",
    ),
    MetricSpec(
        "pilotzone_late_samples_total",
        COUNTER,
        "samples",
        (),
        "Samples that arrived after their vehicle was evaluated past them (dead-lettered as late).",
    ),
    MetricSpec(
        "pilotzone_event_processing_delay_seconds",
        HISTOGRAM,
        "seconds",
        (),
        "Delay between a sample's GNSS time and the moment the pipeline decoded it.",
    ),
    MetricSpec(
        "pilotzone_watermark_timestamp_seconds",
        GAUGE,
        "seconds",
        (),
        "Event time (Unix time) up to which the pipeline has evaluated its input.",
    ),
    MetricSpec(
        "pilotzone_pipeline_running",
        GAUGE,
        "",
        (),
        "1 while the pipeline runs, 0 once it has finished and the figures are final.",
    ),
)

BY_NAME = {spec.name: spec for spec in CATALOG}
