"""A real Prometheus scrapes a real run: PromQL answers equal the pipeline's own outputs.

Prometheus (Debian's package, started here on 127.0.0.1 with a generated config) scrapes the
run's metrics endpoint and a real Pushgateway the run pushed to, loads the shipped recording
and alerting rules, and evaluates every Grafana panel query.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pilotzone.pipelines.jobs.replay import ReplaySettings, run_replay
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.metrics.export import EndpointOptions, Exporter, ExportSettings, PipelineFigures
from pilotzone.zones import Zone
from tests.pipelines.streams import outputs_in
from tests.servers import free_port, prometheus, promql, pushgateway, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
PIPELINE = "it-replay"


@pytest.fixture(scope="module")
def scraped(
    tmp_path_factory: pytest.TempPathFactory, every_kind_zones: list[Zone], small_fleet: Path
) -> Iterator[dict[str, Any]]:
    """Run the pipeline with an endpoint and a push while Prometheus scrapes both."""
    folder = tmp_path_factory.mktemp("prometheus")
    zones, fleet = every_kind_zones, small_fleet
    port = free_port()
    with pushgateway(folder) as gateway:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in RULES],
            "scrape_configs": [
                {"job_name": "pilotzone", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
                {
                    "job_name": "pushgateway",
                    "honor_labels": True,
                    "static_configs": [{"targets": [gateway.removeprefix("http://")]}],
                },
            ],
        }
        with prometheus(folder, config) as server:
            exporter = Exporter(
                zones,
                ExportSettings(endpoint=EndpointOptions(port=port), pushgateway=gateway, pipeline=PIPELINE),
            )
            exporter.start()
            try:
                # Scraped while the run is going: config versions and the running flag.
                wait_for(
                    lambda: promql(server, 'pilotzone_pipeline_running{job="pilotzone"} == 1'),
                    30,
                    "a scrape of the running pipeline",
                )
                out = folder / "out"
                totals = run_replay(
                    zones,
                    str(fleet / "telemetry" / "**" / "*.avro"),
                    outputs_in(out),
                    ReplaySettings(progress=False),
                )
                figures = PipelineFigures(
                    read_jsonl(out / "summaries.jsonl"), read_jsonl(out / "incidents.jsonl"), totals
                )
                exporter.finish(figures, time.time())
                wait_for(
                    lambda: (
                        promql(server, 'pilotzone_pipeline_running{job="pilotzone"} == 0')
                        and promql(server, f'pilotzone_pipeline_running{{pipeline="{PIPELINE}"}} == 0')
                    ),
                    30,
                    "scrapes of the finished run from the endpoint and the Pushgateway",
                )
                yield {"url": server, "out": out, "figures": figures}
            finally:
                exporter.close()


def _vector(url: str, query: str, *labels: str) -> dict[tuple[str, ...], float]:
    """The query's answer by label values, once it has one.

    A scrape that times out on a busy machine marks the target's series stale until the next
    scrape, so an empty answer is retried for a bounded time rather than taken as the truth.
    """
    rows = wait_for(lambda: promql(url, query), 30, f"an answer to {query}")
    return {tuple(row["metric"].get(k, "") for k in labels): float(row["value"][1]) for row in rows}


SOURCES = {"endpoint": 'job="pilotzone",pipeline=""', "pushgateway": f'pipeline="{PIPELINE}"'}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_incidents_in_prometheus_equal_the_incident_log(scraped: dict[str, Any], source: str) -> None:
    labels = ("pilot_zone", "operator", "rule", "kind", "severity")
    got = _vector(
        scraped["url"],
        f"sum by ({', '.join(labels)}) (pilotzone_incidents_total{{{SOURCES[source]}}})",
        *labels,
    )
    incidents = scraped["figures"].incidents
    assert incidents
    expected = Counter(
        (i["pilot_zone"], i["operator_id"], i["rule_id"], i["kind"], i["severity"]) for i in incidents
    )
    assert got == {key: float(n) for key, n in expected.items()}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_fleet_figures_in_prometheus_equal_the_summaries(scraped: dict[str, Any], source: str) -> None:
    url, where = scraped["url"], SOURCES[source]
    summaries = scraped["figures"].summaries
    samples = _vector(url, f"sum by (operator) (pilotzone_samples_total{{{where}}})", "operator")
    expected_samples: dict[tuple[str, ...], float] = defaultdict(float)
    violation: dict[tuple[str, ...], float] = defaultdict(float)
    distance: dict[tuple[str, ...], float] = defaultdict(float)
    for row in summaries:
        expected_samples[(row["operator"],)] += row["samples"]
        for rule, seconds in row["violation_s_by_rule"].items():
            violation[(rule,)] += seconds
        for mode, metres in row["distance_m_by_mode"].items():
            distance[(mode,)] += metres
    assert samples == expected_samples
    got_violation = _vector(url, f"sum by (rule) (pilotzone_violation_seconds_total{{{where}}})", "rule")
    assert got_violation == pytest.approx(dict(violation), abs=1e-6)
    got_distance = _vector(
        url, f"sum by (driving_mode) (pilotzone_distance_meters_total{{{where}}})", "driving_mode"
    )
    assert got_distance == pytest.approx(dict(distance), abs=1e-6)


def test_pipeline_health_in_prometheus_equals_the_dead_letters(scraped: dict[str, Any]) -> None:
    url = scraped["url"]
    dead = read_jsonl(scraped["out"] / "dead-letters.jsonl")
    reasons: Counter[str] = Counter()
    for row in dead:
        reasons[row["reason"]] += row["records"]
    got = _vector(
        url, 'sum by (reason) (pilotzone_dead_letters_total{job="pilotzone",pipeline=""})', "reason"
    )
    assert got == {(reason,): float(n) for reason, n in reasons.items()}
    read = _vector(url, 'pilotzone_records_read_total{job="pilotzone",pipeline=""}')
    samples = sum(row["samples"] for row in scraped["figures"].summaries)
    assert read == {(): float(samples + sum(reasons.values()))}


def test_config_version_is_queryable(scraped: dict[str, Any], every_kind_zones: list[Zone]) -> None:
    got = _vector(
        scraped["url"],
        'pilotzone_zone_config_info{job="pilotzone",pipeline=""}',
        "pilot_zone",
        "config_version",
    )
    assert got == {(zone.zone_id, zone.version): 1.0 for zone in every_kind_zones}


def test_shipped_rules_load_and_evaluate_without_errors(scraped: dict[str, Any]) -> None:
    assert RULES, "deploy/prometheus/rules holds the recording and alerting rules"
    import json

    from tests.servers import http_get

    groups = json.loads(http_get(f"{scraped['url']}/api/v1/rules"))["data"]["groups"]
    assert {Path(g["file"]).name for g in groups} == {path.name for path in RULES}

    def evaluated() -> bool:
        rules = [rule for group in groups_now() for rule in group["rules"]]
        return all(
            rule.get("lastEvaluation", "").startswith("2") and rule["health"] == "ok" for rule in rules
        )

    def groups_now() -> list[dict[str, Any]]:
        return list(json.loads(http_get(f"{scraped['url']}/api/v1/rules"))["data"]["groups"])

    wait_for(evaluated, 30, "every rule evaluated once with health ok")
    errors = [
        (r["name"], r.get("lastError")) for g in groups_now() for r in g["rules"] if r["health"] != "ok"
    ]
    assert errors == []


INCREASE_NEEDS_HISTORY = "its increase() needs counter history; a replay exports its totals once"
DEADLINES_PASSED = "the fleet's report deadlines lie in the past, and passed deadlines are not exported"
NO_PERMITS = "the every-kind zone sets no fleet caps (max_vehicles) for its operators"
SUBQUERY_STEP = "a [1h:5m] subquery has no step inside a run this short"
REGISTER_NOT_SERVED = "the register's report counts come from `pilotzone incidents metrics`, not from a run"
NO_FENCES = "the run is given no emergency fences"
PANELS_EMPTY_AFTER_ONE_EXPORT = {
    ("pilotzone-overview", "Active vehicles vs permitted, per pilot zone"): NO_PERMITS,
    ("pilotzone-overview", "Permit use now"): NO_PERMITS,
    ("pilotzone-overview", "Compliance ratio in the selected range"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-overview", "Compliance ratio over time"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-overview", "Regulator reports due"): DEADLINES_PASSED,
    ("pilotzone-overview", "Next report deadline"): DEADLINES_PASSED,
    ("pilotzone-overview", "Regulator reports by operator: outstanding, overdue, filed"): REGISTER_NOT_SERVED,
    ("pilotzone-overview", "Disengagements per 1,000 autonomous km"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-overview", "Remote takeovers per 1,000 autonomous km"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-overview", "Zone-config versions behind the figures"): SUBQUERY_STEP,
    ("pilotzone-zone", "Compliance ratio in the selected range"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-zone", "Violation time by rule, operator and vehicle class"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-zone", "Incidents opened by rule and severity"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-zone", "Open incidents and reports due, by rule"): DEADLINES_PASSED,
    ("pilotzone-zone", "Active vehicles by operator vs permitted"): NO_PERMITS,
    ("pilotzone-zone", "Distance by driving mode, operator and vehicle class"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-zone", "Disengagements and remote takeovers per 1,000 autonomous km, by operator"): (
        INCREASE_NEEDS_HISTORY
    ),
    ("pilotzone-pipeline", "Dead-letter share in the selected range"): INCREASE_NEEDS_HISTORY,
    ("pilotzone-overview", "Vehicles breaking an emergency fence"): NO_FENCES,
    ("pilotzone-overview", "Fence incidents opened in the selected range"): NO_FENCES,
    ("pilotzone-overview", "Vehicles inside an emergency fence"): NO_FENCES,
    ("pilotzone-overview", "Emergency fences in force"): NO_FENCES,
    ("pilotzone-overview", "Time to leave an emergency fence in the selected range"): NO_FENCES,
    ("pilotzone-overview", "Fence exits slower than 2 minutes in the selected range"): NO_FENCES,
}
"""Panels that show nothing for a finished replay exported once, each with the reason.

Every other panel must show data. This is the exact set, so a change that fills one of these
(a replay loading its window summaries into Prometheus at their event times, for instance)
fails here and must shrink the set.
"""


def test_every_dashboard_query_evaluates(scraped: dict[str, Any]) -> None:
    from tests.dashboard_queries import concrete_queries

    queries = concrete_queries(pilot_zone="test-every-kind", interval="5m")
    # rate() and increase() need two points of the final counters in their range.
    wait_for(
        lambda: promql(
            scraped["url"], 'count_over_time(pilotzone_records_read_total{job="pilotzone"}[5m]) >= 3'
        ),
        30,
        "three scrapes of the final counters",
    )
    assert len(queries) >= 15
    # promql() fails with Prometheus's own message on a query it cannot evaluate.
    empty = {
        (query.dashboard_uid, query.panel_title)
        for query in queries
        if not promql(scraped["url"], query.expr)
    }
    assert empty == set(PANELS_EMPTY_AFTER_ONE_EXPORT)
