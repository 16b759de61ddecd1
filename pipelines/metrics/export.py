"""Prometheus export: the pipeline's own figures as the catalog's metric families.

**One collector, exact totals.** Every number here was already aggregated by the pipeline
or the runner before it reaches this module: window summaries are merged by a combiner
(integers of ms and mm, so any split over workers gives the same sums), the incident log is
the pipeline's final incident states, and record, dead-letter and delay counts are Beam
counters, which the runner sums over bundles and worker processes. The driver then builds
the metric families once from those results and exposes them in one place (HTTP endpoint,
Pushgateway, OpenMetrics file). Nothing counts inside workers into a client-library
registry, so nothing depends on which process ran which bundle: two workers, twenty, or a
distributed runner give the same exposition.

The Pushgateway group is ``job="pilotzone", pipeline=<name>`` and every push replaces the
whole group (HTTP PUT), so a retried or repeated push never double-counts.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_text
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from pilotzone.pipelines.atomic import write_bytes_atomically
from pilotzone.pipelines.metrics.catalog import DELAY_BUCKETS_S, delay_bucket_counter
from pilotzone.pipelines.metrics.families import catalog_family as _family
from pilotzone.pipelines.metrics.fence_metrics import fence_families
from pilotzone.pipelines.metrics.labels import OperatorLabels
from pilotzone.pipelines.metrics.server import EndpointOptions, MetricsEndpoint
from pilotzone.zones import Zone
from pilotzone.zones.fences.figures import FenceFigures


def parse_rfc3339_ms(text: str) -> int:
    """Unix ms of an RFC 3339 UTC time as our outputs write it (``...T01:02:03.456Z``)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(moment.timestamp() * 1000)


PUSH_JOB = "pilotzone"


@dataclass(frozen=True)
class PipelineFigures:
    """What one run computed, as the exporter needs it (all already aggregated)."""

    summaries: Sequence[Mapping[str, Any]]
    """Rows of the summaries file (``pilotzone.pipelines.jobs.report.summary_to_json``)."""
    incidents: Sequence[Mapping[str, Any]]
    """Rows of the incident log (final state of each incident)."""
    totals: Mapping[str, int]
    """Runner-aggregated counters (``pilotzone.pipelines.jobs.replay.runner_totals``)."""
    fences: FenceFigures | None = None
    """What fence judging observed, when fences are configured (else no fence family)."""


def static_families(zones: Sequence[Zone], *, running: bool) -> list[Metric]:
    """What is known before any telemetry: config versions, fleet caps, the running flag."""
    info = _family("pilotzone_zone_config_info")
    permitted = _family("pilotzone_permitted_vehicles")
    zone_permitted = _family("pilotzone_zone_permitted_vehicles")
    for zone in sorted(zones, key=lambda z: z.zone_id):
        info.add_metric([zone.zone_id, zone.version], {})
        if zone.config.max_vehicles is not None:
            zone_permitted.add_metric([zone.zone_id], zone.config.max_vehicles)
        for operator in sorted(zone.config.operators, key=lambda o: o.id):
            if operator.max_vehicles is not None:
                permitted.add_metric([zone.zone_id, operator.id], operator.max_vehicles)
    running_family = _family("pilotzone_pipeline_running")
    running_family.add_metric([], 1.0 if running else 0.0)
    return [info, permitted, zone_permitted, running_family]


SUMMARY_COUNTERS = {
    "pilotzone_samples_total": "samples",
    "pilotzone_vehicle_seconds_total": "vehicle_seconds",
    "pilotzone_disengagements_total": "disengagements",
    "pilotzone_remote_takeovers_total": "remote_takeovers",
}
"""Counter families summed from one figure of the window summaries (family -> summary field)."""

SUMMARY_COUNTERS_BY_KEY = {
    "pilotzone_distance_meters_total": "distance_m_by_mode",
    "pilotzone_violation_seconds_total": "violation_s_by_rule",
}
"""Counter families summed from a summary field keyed by driving mode or rule (the last label)."""


def fleet_labels(row: Mapping[str, Any], operators: OperatorLabels) -> tuple[str, ...]:
    """A summary row's fleet labels: pilot zone, operator label (``operators``), vehicle class."""
    zone = row["pilot_zone"]
    return (zone, operators(zone, row["operator"]), row["vehicle_class"])


def _summed_family(name: str, pairs: Iterable[tuple[tuple[str, ...], float]]) -> Any:
    """A family with the values summed per label set.

    Summary values are multiples of 1/1000, so sums are rounded back to 3 places: the
    exported figure is then exactly the sum of the summaries file's figures.
    """
    totals: dict[tuple[str, ...], float] = defaultdict(float)
    for key, value in pairs:
        totals[key] += value
    family = _family(name)
    for key, value in sorted(totals.items()):
        family.add_metric(list(key), round(value, 3))
    return family


def fleet_families(summaries: Sequence[Mapping[str, Any]], operators: OperatorLabels) -> list[Metric]:
    """Counters and gauges from the window summaries (samples, time, distance, violations).

    Fleets are labelled by ``operators`` (permit holders, or ``unpermitted``), and the figures of
    every operator without a permit are summed under that one label."""
    families = [
        _summed_family(name, ((fleet_labels(r, operators), r[field]) for r in summaries))
        for name, field in SUMMARY_COUNTERS.items()
    ]
    families += [
        _summed_family(
            name, (((*fleet_labels(r, operators), k), v) for r in summaries for k, v in r[field].items())
        )
        for name, field in SUMMARY_COUNTERS_BY_KEY.items()
    ]
    families.extend(_latest_window_families(summaries, operators))
    return families


def _latest_window_families(
    summaries: Sequence[Mapping[str, Any]], operators: OperatorLabels
) -> list[Metric]:
    """Active vehicles in each zone's latest window, and the end of that window."""
    latest: dict[str, str] = {}
    for row in summaries:
        if row["samples"] and row["window_end"] > latest.get(row["pilot_zone"], ""):
            latest[row["pilot_zone"]] = row["window_end"]
    active = _family("pilotzone_active_vehicles")
    # Every fleet the zone has seen gets a value (0 when absent from the latest window), so a
    # fleet that stops driving shows as 0 rather than as a series that silently disappears.
    fleets = sorted({fleet_labels(row, operators) for row in summaries})
    in_latest: dict[tuple[str, ...], int] = defaultdict(int)
    for row in summaries:
        if latest.get(row["pilot_zone"]) == row["window_end"]:
            in_latest[fleet_labels(row, operators)] += row["active_vehicles"]
    for fleet in fleets:
        active.add_metric(list(fleet), in_latest.get(fleet, 0))
    fresh = _family("pilotzone_latest_telemetry_timestamp_seconds")
    for zone_id, window_end in sorted(latest.items()):
        fresh.add_metric([zone_id], parse_rfc3339_ms(window_end) / 1000)
    return [active, fresh]


def incident_families(
    incidents: Sequence[Mapping[str, Any]], now_s: float, operators: OperatorLabels
) -> list[Metric]:
    """Incidents opened, still open, and report deadlines still ahead (as of ``now_s``)."""
    opened = _family("pilotzone_incidents_total")
    still_open = _family("pilotzone_open_incidents")
    deadline = _family("pilotzone_report_deadline_timestamp_seconds")
    due = _family("pilotzone_reports_due")
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    open_counts: dict[tuple[str, ...], int] = defaultdict(int)
    deadlines: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for incident in incidents:
        zone, rule, severity = incident["pilot_zone"], incident["rule_id"], incident["severity"]
        counts[(zone, operators(zone, incident["operator_id"]), rule, incident["kind"], severity)] += 1
        if incident["end_time"] is None:
            open_counts[(zone, rule, severity)] += 1
        if incident["report_deadline"] is not None:
            moment = parse_rfc3339_ms(incident["report_deadline"]) / 1000
            if moment > now_s:
                deadlines[(zone, rule, severity)].append(moment)
    for key, count in sorted(counts.items()):
        opened.add_metric(list(key), count)
    for key, count in sorted(open_counts.items()):
        still_open.add_metric(list(key), count)
    for key, moments in sorted(deadlines.items()):
        deadline.add_metric(list(key), min(moments))
        due.add_metric(list(key), len(moments))
    return [opened, still_open, deadline, due]


def health_families(totals: Mapping[str, int]) -> list[Metric]:
    """Records read, dead letters, late samples, the delay histogram and the watermark."""
    read = _family("pilotzone_records_read_total")
    read.add_metric([], totals.get("records_read", 0))
    dead = _family("pilotzone_dead_letters_total")
    prefix = "dead_letters_"
    for name, count in sorted(totals.items()):
        if name.startswith(prefix) and count:
            dead.add_metric([name.removeprefix(prefix)], count)
    late = _family("pilotzone_late_samples_total")
    late.add_metric([], totals.get("dead_letters_late", 0))
    delay = _family("pilotzone_event_processing_delay_seconds")
    cumulative, buckets = 0, []
    for index, bound in enumerate((*DELAY_BUCKETS_S, float("inf"))):
        cumulative += totals.get(delay_bucket_counter(index), 0)
        buckets.append((floatToGoString(bound), cumulative))
    delay.add_metric([], buckets, sum_value=totals.get("delay_ms_sum", 0) / 1000)
    families = [read, dead, late, delay]
    if "event_time_ms_max" in totals:
        watermark = _family("pilotzone_watermark_timestamp_seconds")
        watermark.add_metric([], totals["event_time_ms_max"] / 1000)
        families.append(watermark)
    return families


def pipeline_families(
    zones: Sequence[Zone], figures: PipelineFigures, now_s: float, *, running: bool = False
) -> list[Metric]:
    """Every family of the catalog: a finished run's, or a stream's figures so far (the fence
    families only when fences are configured, so a run without them exports what it did)."""
    families = [
        *static_families(zones, running=running),
        *fleet_families(figures.summaries, OperatorLabels.of(zones)),
        *incident_families(figures.incidents, now_s, OperatorLabels.of(zones)),
        *health_families(figures.totals),
    ]
    if figures.fences is not None:
        families += fence_families(figures.fences, OperatorLabels.of(zones))
    return families


class SnapshotCollector(Collector):
    """Serves the latest complete set of families; ``update`` swaps the set atomically.

    A scrape sees either the old set or the new one, never half of each, so PromQL over one
    scrape is always consistent (samples and incidents of the same run).
    """

    def __init__(self, families: Sequence[Metric] = ()) -> None:
        self._families = list(families)
        self._lock = threading.Lock()

    def update(self, families: Sequence[Metric]) -> None:
        """Replace what scrapes see."""
        with self._lock:
            self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = self._families
        yield from families


class MetricsFileCollector(Collector):
    """Serves the families a stream's collector step last wrote to an OpenMetrics file.

    A stream computes its figures inside the pipeline (on whichever worker holds the single
    collector key), not in the process that serves the endpoint; the file is where they meet
    on one machine. Until the first write, scrapes see ``fallback`` (config versions, caps).
    The file is replaced atomically, so a scrape never reads half of it.
    """

    def __init__(self, path: Path, fallback: Sequence[Metric]) -> None:
        self.path = path
        self.fallback = list(fallback)

    def collect(self) -> Iterator[Metric]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            yield from self.fallback
            return
        yield from text_string_to_metric_families(text)


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry holding only ``collector`` (no process or platform metrics from the driver)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def write_openmetrics(registry: CollectorRegistry, path: Path) -> None:
    """Write the OpenMetrics text exposition to ``path`` (atomically: a reader never sees half)."""
    write_bytes_atomically(path, openmetrics_text(registry))


def push(registry: CollectorRegistry, url: str, pipeline: str, timeout_s: float = 10.0) -> None:
    """Replace the Pushgateway group ``job="pilotzone", pipeline=<pipeline>`` with ``registry``."""
    push_to_gateway(
        url, job=PUSH_JOB, registry=registry, grouping_key={"pipeline": pipeline}, timeout=timeout_s
    )


@dataclass(frozen=True)
class ExportSettings:
    """Where a run's metrics go: any of an endpoint, an OpenMetrics file and a Pushgateway."""

    endpoint: EndpointOptions | None = None
    metrics_file: Path | None = None
    pushgateway: str | None = None
    pipeline: str = "replay"
    """The Pushgateway grouping key's ``pipeline`` label, to tell separate deployments apart."""

    @property
    def wanted(self) -> bool:
        """Whether any metrics output was asked for."""
        return self.endpoint is not None or self.metrics_file is not None or self.pushgateway is not None


class Exporter:
    """The one collector of a run: static figures while it runs, every figure when it is done."""

    def __init__(self, zones: Sequence[Zone], settings: ExportSettings) -> None:
        self.zones = list(zones)
        self.settings = settings
        self.collector = SnapshotCollector(static_families(self.zones, running=True))
        self.registry = registry_of(self.collector)
        self.endpoint: MetricsEndpoint | None = None

    def start(self) -> None:
        """Open the endpoint (if asked for), so scrapes see the run from its start."""
        if self.settings.endpoint is not None:
            self.endpoint = MetricsEndpoint(self.registry, self.settings.endpoint)

    def follow(self, path: Path) -> None:
        """Serve, from now on, what a running stream writes to ``path`` (see ``MetricsFileCollector``)."""
        self.registry.unregister(self.collector)
        self.registry.register(MetricsFileCollector(path, static_families(self.zones, running=True)))

    def finish(self, figures: PipelineFigures, now_s: float) -> None:
        """Publish the finished run's figures: endpoint, file, then Pushgateway."""
        self.publish(figures, now_s)
        self.push()

    def publish(self, figures: PipelineFigures, now_s: float) -> None:
        """Serve the finished run's figures on the endpoint and write the metrics file."""
        self.collector.update(pipeline_families(self.zones, figures, now_s))
        if self.settings.metrics_file is not None:
            write_openmetrics(self.registry, self.settings.metrics_file)

    def push(self) -> None:
        """Replace the run's Pushgateway group with what ``publish`` serves (if a Pushgateway is set)."""
        if self.settings.pushgateway is not None:
            push(self.registry, self.settings.pushgateway, self.settings.pipeline)

    def close(self) -> None:
        """Stop the endpoint, if one runs."""
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
