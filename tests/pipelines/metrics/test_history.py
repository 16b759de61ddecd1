"""A replay's history: timestamped OpenMetrics whose series give the summaries back in PromQL.

The unit tests lay out hand-built summaries; the integration test loads a real replay's
history with ``promtool tsdb create-blocks-from openmetrics`` into a real Prometheus and
evaluates the dashboards' own queries over the replayed period against the summaries.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.integration.test_prometheus as one_export
from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.metrics.export import parse_rfc3339_ms
from pilotzone.pipelines.metrics.history import HISTORY_JOB, history_timeline, openmetrics_history
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import rfc3339_ms
from tests.dashboard_queries import concrete_queries
from tests.factories import T0_MS
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.servers import http_get, prometheus, run_tool, wait_for

MINUTE = 60_000


def summary(window: int, operator: str = "op-taxi", **values: Any) -> dict[str, Any]:
    """A summaries-file row of window ``window`` (minutes after T0)."""
    row: dict[str, Any] = {
        "window_start": rfc3339_ms(T0_MS + window * MINUTE),
        "window_end": rfc3339_ms(T0_MS + (window + 1) * MINUTE),
        "pilot_zone": "test-every-kind",
        "operator": operator,
        "vehicle_class": "ROBOTAXI",
        "samples": 60,
        "active_vehicles": 1,
        "vehicle_seconds": 59.0,
        "distance_m_by_mode": {"AUTONOMOUS": 500.5},
        "violation_s_by_rule": {},
        "incidents_opened": {},
        "disengagements": 0,
        "remote_takeovers": 0,
    }
    return {**row, **values}


def incident(start_min: float, end_min: float | None, deadline_min: float | None = None) -> dict[str, Any]:
    return {
        "pilot_zone": "test-every-kind",
        "operator_id": "op-taxi",
        "rule_id": "collisions",
        "kind": "vehicle_event",
        "severity": "CRITICAL",
        "start_time": rfc3339_ms(T0_MS + round(start_min * MINUTE)),
        "end_time": None if end_min is None else rfc3339_ms(T0_MS + round(end_min * MINUTE)),
        "report_deadline": None if deadline_min is None else rfc3339_ms(T0_MS + round(deadline_min * MINUTE)),
    }


def values(timeline: dict, name: str, **labels: str) -> list[tuple[int, float]]:
    """The samples of the one series of ``name`` with these labels, times in minutes after T0."""
    (found,) = [samples for series, samples in timeline[name].items() if set(labels.items()) <= set(series)]
    return [((t - T0_MS) // MINUTE, v) for t, v in found]


def test_counters_run_from_zero_at_the_first_window_through_every_window_end(
    every_kind_zones: list[Zone],
) -> None:
    # Windows 0 and 2 of one fleet, window 1 of another: no data of the first fleet in window 1.
    rows = [
        summary(0, violation_s_by_rule={"speed": 2.5}),
        summary(1, operator="op-transit", samples=30),
        summary(2, samples=10, disengagements=1),
    ]
    timeline = history_timeline(every_kind_zones, rows, [])
    assert values(timeline, "pilotzone_samples_total", operator="op-taxi") == [
        (0, 0),
        (1, 60),
        (2, 60),
        (3, 70),
    ]
    assert values(timeline, "pilotzone_samples_total", operator="op-transit") == [
        (0, 0),
        (1, 0),
        (2, 30),
        (3, 30),
    ]
    assert values(timeline, "pilotzone_violation_seconds_total", rule="speed") == [
        (0, 0),
        (1, 2.5),
        (2, 2.5),
        (3, 2.5),
    ]
    assert values(timeline, "pilotzone_distance_meters_total", operator="op-taxi") == [
        (0, 0),
        (1, 500.5),
        (2, 500.5),
        (3, 1001.0),
    ]
    assert values(timeline, "pilotzone_disengagements_total", operator="op-taxi")[-1] == (3, 1)
    # Gauges: what the exporter would have said at each window end.
    assert values(timeline, "pilotzone_active_vehicles", operator="op-taxi") == [
        (0, 0),
        (1, 1),
        (2, 0),
        (3, 1),
    ]
    assert values(timeline, "pilotzone_latest_telemetry_timestamp_seconds") == [
        (1, (T0_MS + MINUTE) / 1000),
        (2, (T0_MS + 2 * MINUTE) / 1000),
        (3, (T0_MS + 3 * MINUTE) / 1000),
    ]
    assert all(("job", HISTORY_JOB) in series for family in timeline.values() for series in family)
    assert not any(name == "vehicle_id" for family in timeline.values() for s in family for name, _ in s)


def test_incidents_opened_open_and_reports_due_follow_the_incident_log(every_kind_zones: list[Zone]) -> None:
    rows = [summary(window) for window in range(4)]
    log = [incident(0.5, 0.5, deadline_min=2.5), incident(1.5, None, deadline_min=60)]
    timeline = history_timeline(every_kind_zones, rows, log)
    assert values(timeline, "pilotzone_incidents_total") == [(0, 0), (1, 1), (2, 2), (3, 2), (4, 2)]
    assert values(timeline, "pilotzone_open_incidents") == [(0, 0), (1, 0), (2, 1), (3, 1), (4, 1)]
    assert values(timeline, "pilotzone_reports_due") == [(1, 1), (2, 2), (3, 1), (4, 1)]
    soon, later = (T0_MS + 2.5 * MINUTE) / 1000, (T0_MS + 60 * MINUTE) / 1000
    assert values(timeline, "pilotzone_report_deadline_timestamp_seconds") == [
        (1, soon),
        (2, soon),
        (3, later),
        (4, later),
    ]


def test_an_incident_at_the_first_window_start_is_counted_within_the_period(
    every_kind_zones: list[Zone],
) -> None:
    timeline = history_timeline(every_kind_zones, [summary(0)], [incident(0, 0.5)])
    assert values(timeline, "pilotzone_incidents_total") == [(0, 0), (1, 1)]
    assert values(timeline, "pilotzone_open_incidents") == [(0, 1), (1, 0)]


def test_the_text_is_openmetrics_with_timestamps_in_seconds(every_kind_zones: list[Zone]) -> None:
    text = openmetrics_history(history_timeline(every_kind_zones, [summary(0)], []))
    lines = text.splitlines()
    assert lines[:4] == [
        "# TYPE pilotzone_samples counter",
        "# HELP pilotzone_samples Telemetry samples evaluated against the zone rules (decoded, in order, not duplicates).",
        f'pilotzone_samples_total{{job="{HISTORY_JOB}",operator="op-taxi",pilot_zone="test-every-kind",'
        f'vehicle_class="ROBOTAXI"}} 0 {T0_MS // 1000}',
        f'pilotzone_samples_total{{job="{HISTORY_JOB}",operator="op-taxi",pilot_zone="test-every-kind",'
        f'vehicle_class="ROBOTAXI"}} 60 {T0_MS // 1000 + 60}',
    ]
    assert "# TYPE pilotzone_zone_config info" in lines
    assert lines[-1] == "# EOF"


# --- a real replay, backfilled into a real Prometheus ------------------------------------------


def query_at(url: str, expr: str, time_s: float) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant query evaluated at ``time_s``: labels -> value."""
    address = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{time_s:.3f}"})
    answer = json.loads(http_get(address))
    assert answer["status"] == "success", answer
    return {tuple(sorted(row["metric"].items())): float(row["value"][1]) for row in answer["data"]["result"]}


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory, small_fleet: Path) -> Iterator[dict[str, Any]]:
    """A replay with --history-openmetrics, turned into blocks by promtool, loaded by Prometheus."""
    folder = tmp_path_factory.mktemp("history")
    history = folder / "history.om"
    status = main(
        ["run", "--zones", str(EVERY_KIND_ZONE), "--input", str(small_fleet / "telemetry" / "**" / "*.avro"),
         "--incidents", str(folder / "out" / "incidents.jsonl"), "--history-openmetrics", str(history), "--quiet"]
    )  # fmt: skip
    assert status == 0
    run_tool("promtool", "tsdb", "create-blocks-from", "openmetrics", history, folder / "blocks")
    (folder / "server").mkdir()
    shutil.copytree(folder / "blocks", folder / "server" / "data")
    summaries = read_jsonl(folder / "out" / "summaries.jsonl")
    first = min(parse_rfc3339_ms(row["window_start"]) for row in summaries)
    last = max(parse_rfc3339_ms(row["window_end"]) for row in summaries)
    config = {"global": {"scrape_interval": "15s"}, "scrape_configs": []}
    with prometheus(folder / "server", config, retention="3650d") as url:
        wait_for(
            lambda: query_at(url, "count(pilotzone_samples_total)", last / 1000),
            30,
            "the backfilled blocks to be loaded",
        )
        yield {
            "url": url,
            "summaries": summaries,
            "incidents": read_jsonl(folder / "out" / "incidents.jsonl"),
            "at_s": last / 1000,
            "range": f"{(last - first) // 1000}s",
        }


@pytest.mark.integration
@pytest.mark.slow
def test_the_dashboards_over_the_replayed_period_equal_the_summaries(backfilled: dict[str, Any]) -> None:
    url, at, summaries, incidents = (
        backfilled["url"],
        backfilled["at_s"],
        backfilled["summaries"],
        backfilled["incidents"],
    )
    queries = {
        (q.dashboard_uid, q.panel_title): q.expr
        for q in concrete_queries(pilot_zone="test-every-kind", interval="1m", time_range=backfilled["range"])
    }
    violation: dict[tuple[str, ...], float] = defaultdict(float)
    distance: dict[tuple[str, ...], float] = defaultdict(float)
    for row in summaries:
        for rule, held in row["violation_s_by_rule"].items():
            violation[(row["operator"], rule, row["vehicle_class"])] += held
        for mode, metres in row["distance_m_by_mode"].items():
            distance[(mode, row["operator"], row["vehicle_class"])] += metres
    vehicle_s = sum(row["vehicle_seconds"] for row in summaries)

    ratio = query_at(url, queries[("pilotzone-overview", "Compliance ratio in the selected range")], at)
    assert ratio == {
        (("pilot_zone", "test-every-kind"),): pytest.approx(1 - sum(violation.values()) / vehicle_s)
    }

    by_rule = query_at(
        url, queries[("pilotzone-zone", "Violation time by rule, operator and vehicle class")], at
    )
    assert {
        (dict(k)["operator"], dict(k)["rule"], dict(k)["vehicle_class"]): v for k, v in by_rule.items()
    } == pytest.approx({k: v for k, v in violation.items() if v > 0})

    by_mode = query_at(
        url, queries[("pilotzone-zone", "Distance by driving mode, operator and vehicle class")], at
    )
    assert {
        (dict(k)["driving_mode"], dict(k)["operator"], dict(k)["vehicle_class"]): v
        for k, v in by_mode.items()
    } == pytest.approx({k: v for k, v in distance.items() if v > 0})

    opened = query_at(url, queries[("pilotzone-zone", "Incidents opened by rule and severity")], at)
    expected = Counter((i["rule_id"], i["kind"], i["severity"], i["operator_id"]) for i in incidents)
    assert {
        (dict(k)["rule"], dict(k)["kind"], dict(k)["severity"], dict(k)["operator"]): v
        for k, v in opened.items()
    } == {key: float(n) for key, n in expected.items()}

    still_open = query_at(url, queries[("pilotzone-overview", "Open incidents now")], at)
    assert sum(still_open.values()) == sum(i["end_time"] is None for i in incidents) == 2

    # Every panel a replay exported once left empty for want of counter history now has data.
    needing_history = [
        panel for panel, reason in one_export.PANELS_EMPTY_AFTER_ONE_EXPORT.items()
        if reason == one_export.INCREASE_NEEDS_HISTORY and panel[0] != "pilotzone-pipeline"
    ]  # fmt: skip
    assert len(needing_history) == 9
    empty = [panel for panel in needing_history if not query_at(url, queries[panel], at)]
    assert empty == []


def test_operators_without_a_permit_share_one_label_as_in_the_exporter(every_kind_zones: list[Zone]) -> None:
    # Label values come from the permits, never from telemetry (pipelines.metrics.labels): two
    # forged operator ids add one series, and their vehicles and samples add up in it.
    rows = [summary(0, operator="forged-1", samples=5), summary(0, operator="x" * 10_000, samples=7)]
    timeline = history_timeline(every_kind_zones, rows, [])
    operators = {dict(series)["operator"] for series in timeline["pilotzone_samples_total"]}
    assert operators == {"unpermitted"}
    assert values(timeline, "pilotzone_samples_total", operator="unpermitted") == [(0, 0), (1, 12)]
    assert values(timeline, "pilotzone_active_vehicles", operator="unpermitted") == [(0, 0), (1, 2)]
