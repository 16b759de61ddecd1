"""A replay's figures as Prometheus history: the catalog's series at every window's event time.

Why: a replay exports its totals once, at the moment it ends, so Prometheus sees one late
sample per series; ``increase(...[1h])`` over it is 0, and an archived day replayed shows
nothing on the dashboards. Here the window summaries and the incident log become OpenMetrics
text *with timestamps*, one sample per series per summary window, which ``promtool tsdb
create-blocks-from openmetrics`` turns into TSDB blocks for Prometheus to load:

    pilotzone run ... --history-openmetrics day.om
    promtool tsdb create-blocks-from openmetrics day.om /var/lib/prometheus/metrics2

How the series are laid out, so that the dashboards' range queries over the replayed period
give exactly the summaries' figures:

* Every series starts at 0 at the start of the first window and has a sample at every window
  end up to the last (windows without data repeat the running total). ``increase(x[R])``
  evaluated at the last window end with R = the replayed period then has samples at both ends
  of its range and needs no extrapolation: it equals the sum of the summaries.
* Counters (samples, vehicle seconds, distance, violation seconds, disengagements, remote
  takeovers) are running sums of the summaries up to each window end; incidents opened count
  the incident log's incidents by start time (what the exporter counts, gaps only the end of
  input opened already dropped).
* Gauges are what the exporter would have said at that moment: active vehicles in that
  window (0 for a fleet the zone has seen that sent nothing), the end of the latest window
  with telemetry, incidents open then (started, not yet ended), reports due then (deadline
  still ahead) and the earliest such deadline, the config version and the fleet caps.

Every series carries ``job="pilotzone-history"`` (``HISTORY_JOB``), so history never adds to
a live pipeline's series in a ``sum``. No series carries a vehicle id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.utils import floatToGoString

from pilotzone.pipelines.metrics.catalog import BY_NAME, COUNTER, FENCE_EXIT_BUCKETS_S, HISTOGRAM, INFO
from pilotzone.pipelines.metrics.export import (
    SUMMARY_COUNTERS,
    SUMMARY_COUNTERS_BY_KEY,
    fleet_labels,
    parse_rfc3339_ms,
)
from pilotzone.pipelines.metrics.fence_metrics import exit_buckets, inside_counts
from pilotzone.pipelines.metrics.labels import OperatorLabels
from pilotzone.zones import Zone
from pilotzone.zones.fences.figures import FenceFigures

HISTORY_JOB = "pilotzone-history"

Series = tuple[tuple[str, str], ...]
"""A series' labels, sorted by name."""


def _labels(name: str, values: Sequence[str]) -> Series:
    spec = BY_NAME[name]
    return tuple(sorted((*zip(spec.labels, values, strict=True), ("job", HISTORY_JOB))))


class _Timeline:
    """Samples per (family, series), each series' samples in time order."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[Series, list[tuple[int, float]]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def add(self, name: str, values: Sequence[str], time_ms: int, value: float) -> None:
        self.samples[name][_labels(name, values)].append((time_ms, value))


def _counter_increments(
    summaries: Iterable[Mapping[str, Any]], operators: OperatorLabels
) -> dict[str, dict[tuple[str, ...], dict[int, float]]]:
    """Per counter family and label values: the increment at each window end (ms)."""
    found: dict[str, dict[tuple[str, ...], dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in summaries:
        end = parse_rfc3339_ms(row["window_end"])
        fleet = fleet_labels(row, operators)
        for name, field in SUMMARY_COUNTERS.items():
            step = found[name][fleet]
            step[end] = step.get(end, 0.0) + row[field]
        for name, field in SUMMARY_COUNTERS_BY_KEY.items():
            for key, value in row[field].items():
                step = found[name][(*fleet, key)]
                step[end] = step.get(end, 0.0) + value
    return found


def history_timeline(
    zones: Sequence[Zone],
    summaries: Sequence[Mapping[str, Any]],
    incidents: Sequence[Mapping[str, Any]],
    window_s: int = 60,
    *,
    fences: FenceFigures | None = None,
) -> dict[str, dict[Series, list[tuple[int, float]]]]:
    """Family -> series -> [(time ms, value)] for a finished replay (module docstring); the
    fence families too when ``fences`` (what its fence judging observed) is given."""
    timeline = _Timeline()
    if not summaries:
        return {}
    window_ms = window_s * 1000
    first = min(parse_rfc3339_ms(row["window_start"]) for row in summaries)
    last = max(parse_rfc3339_ms(row["window_end"]) for row in summaries)
    times = list(range(first, last + 1, window_ms))

    operators = OperatorLabels.of(zones)  # label values from the permits, as the exporter's
    for name, by_series in sorted(_counter_increments(summaries, operators).items()):
        for values, increments in sorted(by_series.items()):
            total = 0.0
            for t in times:
                total += increments.get(t, 0.0)
                timeline.add(name, values, t, round(total, 3))

    opened: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for incident in incidents:
        opening = (
            incident["pilot_zone"],
            operators(incident["pilot_zone"], incident["operator_id"]),
            incident["rule_id"],
            incident["kind"],
            incident["severity"],
        )
        opened[opening].append(parse_rfc3339_ms(incident["start_time"]))
    for labels, starts in sorted(opened.items()):
        for t in times:
            # An incident counts in the sample at the end of its window: one that starts at the
            # very first window start is an increase within the period, not before it.
            timeline.add("pilotzone_incidents_total", labels, t, sum(start < t for start in starts))

    _fleet_gauges(timeline, summaries, times, operators)
    _incident_gauges(timeline, incidents, times)
    _zone_gauges(timeline, zones, times)
    if fences is not None:
        _fence_series(timeline, fences, times, operators)
    return {name: dict(series) for name, series in timeline.samples.items()}


def _fleet_gauges(
    timeline: _Timeline, summaries: Sequence[Mapping[str, Any]], times: list[int], operators: OperatorLabels
) -> None:
    active: dict[tuple[str, ...], dict[int, int]] = defaultdict(dict)
    with_data: dict[str, set[int]] = defaultdict(set)
    for row in summaries:
        end = parse_rfc3339_ms(row["window_end"])
        by_end = active[fleet_labels(row, operators)]
        # Operators without a permit share one label: their vehicles add up.
        by_end[end] = by_end.get(end, 0) + row["active_vehicles"]
        if row["samples"]:
            with_data[row["pilot_zone"]].add(end)
    for fleet, by_end in sorted(active.items()):
        for t in times:
            timeline.add("pilotzone_active_vehicles", fleet, t, by_end.get(t, 0))
    for zone_id, ends in sorted(with_data.items()):
        for t in times:
            latest = max((end for end in ends if end <= t), default=None)
            if latest is not None:
                timeline.add("pilotzone_latest_telemetry_timestamp_seconds", (zone_id,), t, latest / 1000)


def _incident_gauges(timeline: _Timeline, incidents: Sequence[Mapping[str, Any]], times: list[int]) -> None:
    spans: dict[tuple[str, str, str], list[tuple[int, int | None, int | None]]] = defaultdict(list)
    for incident in incidents:
        key = (incident["pilot_zone"], incident["rule_id"], incident["severity"])
        end = None if incident["end_time"] is None else parse_rfc3339_ms(incident["end_time"])
        deadline = (
            None if incident["report_deadline"] is None else parse_rfc3339_ms(incident["report_deadline"])
        )
        spans[key].append((parse_rfc3339_ms(incident["start_time"]), end, deadline))
    for key, found in sorted(spans.items()):
        for t in times:
            started = [(end, deadline) for start, end, deadline in found if start <= t]
            timeline.add(
                "pilotzone_open_incidents", key, t, sum(end is None or end > t for end, _ in started)
            )
            ahead = [deadline for _, deadline in started if deadline is not None and deadline > t]
            if ahead:
                timeline.add("pilotzone_reports_due", key, t, len(ahead))
                timeline.add("pilotzone_report_deadline_timestamp_seconds", key, t, min(ahead) / 1000)


def _zone_gauges(timeline: _Timeline, zones: Sequence[Zone], times: list[int]) -> None:
    for zone in sorted(zones, key=lambda z: z.zone_id):
        for t in times:
            timeline.add("pilotzone_zone_config_info", (zone.zone_id, zone.version), t, 1)
            if zone.config.max_vehicles is not None:
                timeline.add(
                    "pilotzone_zone_permitted_vehicles", (zone.zone_id,), t, zone.config.max_vehicles
                )
            for operator in sorted(zone.config.operators, key=lambda o: o.id):
                if operator.max_vehicles is not None:
                    timeline.add(
                        "pilotzone_permitted_vehicles", (zone.zone_id, operator.id), t, operator.max_vehicles
                    )


def _fence_series(
    timeline: _Timeline, fences: FenceFigures, times: list[int], operators: OperatorLabels
) -> None:
    """Fences in force and vehicles inside at each moment, and the exits before it.

    An exit counts in the sample at the end of its window, as an incident's opening does.
    The histogram's samples are kept as series of ``<name>_bucket`` (with ``le``),
    ``_count`` and ``_sum``, which ``openmetrics_history`` writes under the family."""
    bounds = [floatToGoString(bound) for bound in (*FENCE_EXIT_BUCKETS_S, float("inf"))]
    exits = "pilotzone_fence_exit_seconds"
    for t in times:
        for zone, count in sorted(fences.in_force(t).items()):
            timeline.add("pilotzone_fences_in_force", (zone,), t, count)
        for series, inside in sorted(inside_counts(fences, t, operators).items()):
            timeline.add("pilotzone_fence_vehicles_inside", series, t, inside)
        for series, (counts, total) in sorted(exit_buckets(fences, operators, before_ms=t).items()):
            labels = _labels(exits, series)
            for bound, count in zip(bounds, counts, strict=True):
                bucket = tuple(sorted((*labels, ("le", bound))))
                timeline.samples[f"{exits}_bucket"][bucket].append((t, count))
            timeline.samples[f"{exits}_count"][labels].append((t, counts[-1]))
            timeline.samples[f"{exits}_sum"][labels].append((t, total))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 3))


def openmetrics_history(timeline: Mapping[str, Mapping[Series, list[tuple[int, float]]]]) -> str:
    """The timeline as OpenMetrics text with timestamps (seconds), families in catalog order."""
    lines = []
    for spec in BY_NAME.values():
        family = spec.family
        if spec.type == HISTOGRAM:
            parts = [(f"{spec.name}{part}", part) for part in ("_bucket", "_count", "_sum")]
        else:
            parts = [
                (spec.name, "_total" if spec.type == COUNTER else ("_info" if spec.type == INFO else ""))
            ]
        if not any(name in timeline for name, _ in parts):
            continue
        kind = "info" if spec.type == INFO else spec.type
        lines.append(f"# TYPE {family} {kind}")
        lines.append(f"# HELP {family} {spec.help}")
        for name, suffix in parts:
            for series, samples in sorted(timeline.get(name, {}).items()):
                labels = ",".join(f'{label}="{_escape(value)}"' for label, value in series)
                for time_ms, value in samples:
                    seconds = _number(time_ms / 1000)
                    lines.append(f"{family}{suffix}{{{labels}}} {_number(value)} {seconds}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def write_history(
    path: Path,
    zones: Sequence[Zone],
    summaries: Sequence[Mapping[str, Any]],
    incidents: Sequence[Mapping[str, Any]],
    window_s: int = 60,
    *,
    fences: FenceFigures | None = None,
) -> int:
    """Write a replay's history as OpenMetrics to ``path``; returns the number of samples."""
    timeline = history_timeline(zones, summaries, incidents, window_s, fences=fences)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openmetrics_history(timeline), encoding="utf-8")
    return sum(len(samples) for series in timeline.values() for samples in series.values())
