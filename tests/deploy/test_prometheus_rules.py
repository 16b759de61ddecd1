"""The Prometheus rules and config and the Alertmanager config an operator deploys.

Prometheus's and Alertmanager's own checkers run for real (``promtool check rules``, ``promtool
test rules`` with the unit tests in ``deploy/prometheus/tests``, ``promtool check config``,
``amtool check-config``, ``amtool config routes test``); they are not optional, so a machine
without them fails with how to install them. On top of that, the PromQL reader in
``tests/promql.py`` checks what the tools cannot know: every series a rule reads (expressions and
the queries inside alert templates) is in the metric catalog or is a recording rule, with the
catalog's labels and the telemetry contract's label values; and every rule has unit tests. The
check has its own tests with expressions it must reject, so a check that stopped finding problems
would fail.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pilotzone.pipelines.metrics.catalog import CATALOG
from pilotzone.schemas.batch import DRIVING_MODES
from pilotzone.zones.model import Severity
from tests.promql import assert_reported, catalog_labels, is_counter, read
from tests.servers import alertmanager_command, free_port, http_get, run_tool, server, wait_for

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RECORDING = PROMETHEUS / "rules" / "recording.yml"
ALERTS = PROMETHEUS / "rules" / "alerts.yml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

TARGET_LABELS = ("job", "instance", "pipeline")
"""Labels Prometheus (job, instance) or the Pushgateway group (pipeline) add: rules may use them
to tell sources apart, though the catalog does not list them."""

DERIVED_LABELS = ("incident_severity",)
"""Labels the rules create themselves (an incident's severity, moved out of the way of the
alert's own ``severity``)."""

LABEL_VALUES: dict[str, frozenset[str]] = {
    "driving_mode": frozenset(DRIVING_MODES),
    "severity": frozenset(Severity),
}
"""Labels whose values come from the telemetry contract or the zone model: a rule selecting
``driving_mode="AUTONOMUS"`` would silently match nothing."""

RECEIVERS = {"critical": "operators-page", "warning": "operators", "info": "operators-info"}

RAW_COUNTER_READS = {("CriticalIncidentOpened", "pilotzone_incidents_total")}
"""Rules allowed to read a counter outside rate()/increase(): the alert that must see a
counter's first value, which increase() cannot (the rule's comment says why)."""


# --- Reading the files -------------------------------------------------------------------------


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load(ALERTS)["groups"] for rule in group["rules"]]


def recording_rules() -> list[dict[str, Any]]:
    return [rule for group in load(RECORDING)["groups"] for rule in group["rules"]]


def all_rules() -> list[dict[str, Any]]:
    return [*recording_rules(), *alert_rules()]


def rule_name(rule: dict[str, Any]) -> str:
    return str(rule.get("record") or rule["alert"])


_TEMPLATE_QUERY = re.compile(r'printf\s+"((?:[^"\\]|\\.)*)"')


def template_queries(rule: dict[str, Any]) -> list[str]:
    """The PromQL inside an alert's annotations (``printf "..." | query``), ``label=%q`` filled."""
    found = []
    for text in rule.get("annotations", {}).values():
        for match in _TEMPLATE_QUERY.finditer(text):
            query = json.loads(f'"{match.group(1)}"')
            found.append(_PLACEHOLDER.sub(lambda m: f'{m[1]}="{_example_value(m[1])}"', query))
    return found


_PLACEHOLDER = re.compile(r"(\w+)=%q")


def _example_value(label: str) -> str:
    """A value the label can take, so a filled-in template query passes the value checks."""
    return min(LABEL_VALUES[label]) if label in LABEL_VALUES else "gwangju"


def rule_queries(rule: dict[str, Any]) -> list[str]:
    return [rule["expr"], *template_queries(rule)]


# --- Running the tools -------------------------------------------------------------------------


@pytest.mark.integration
def test_promtool_checks_the_rule_files() -> None:
    output = run_tool("promtool", "check", "rules", RECORDING, ALERTS)
    assert output.count("SUCCESS") == 2, output


@pytest.mark.integration
@pytest.mark.slow
def test_promtool_runs_the_rule_unit_tests() -> None:
    assert [path.name for path in RULE_TESTS] == ["alerts_test.yml", "recording_test.yml"]
    output = run_tool("promtool", "test", "rules", *RULE_TESTS)
    assert output.count("SUCCESS") == len(RULE_TESTS), output


@pytest.mark.integration
def test_promtool_checks_the_prometheus_config_and_the_rules_it_loads() -> None:
    output = run_tool("promtool", "check", "config", PROMETHEUS_CONFIG)
    assert "2 rule files found" in output, output


@pytest.mark.integration
def test_amtool_checks_the_alertmanager_config() -> None:
    output = run_tool("amtool", "check-config", ALERTMANAGER_CONFIG)
    assert "3 receivers" in output and "2 inhibit rules" in output, output


def assert_routes_to(receiver: str, *labels: str) -> None:
    """amtool routes an alert with ``labels`` to ``receiver`` under the shipped config."""
    run_tool(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )


@pytest.mark.integration
@pytest.mark.parametrize("alert", [rule["alert"] for rule in alert_rules()])
def test_each_alert_routes_to_the_receiver_of_its_severity(alert: str) -> None:
    rule = next(rule for rule in alert_rules() if rule["alert"] == alert)
    severity = rule["labels"]["severity"]
    assert_routes_to(RECEIVERS[severity], f"alertname={alert}", f"severity={severity}", "pilot_zone=gwangju")


@pytest.mark.integration
def test_alerts_without_a_severity_still_reach_the_operators() -> None:
    assert_routes_to("operators", "alertname=Unlabelled")


# --- Rule expressions against the catalog ------------------------------------------------------


ALL_LABELS = frozenset(
    {label for spec in CATALOG for label in spec.labels} | {"le", *TARGET_LABELS, *DERIVED_LABELS}
)


def problems(
    expr: str, recorded: frozenset[str] = frozenset(), raw_counters_allowed: frozenset[str] = frozenset()
) -> list[str]:
    """Everything wrong with one rule expression against the catalog and the contract."""
    reading = read(expr)
    found = list(reading.errors)
    for selector in reading.selectors:
        labels = catalog_labels(selector.name)
        if labels is None and selector.name not in recorded:
            found.append(f"{selector.name} is neither in the metric catalog nor a recording rule")
            continue
        for label, op, value in selector.matchers:
            allowed = ALL_LABELS if labels is None else (*labels, *TARGET_LABELS)
            if label not in allowed:
                found.append(f"{selector.name} has no label {label!r}")
            if label in LABEL_VALUES and op in {"=", "=~"}:
                for alternative in value.split("|") if op == "=~" else [value]:
                    if alternative not in LABEL_VALUES[label]:
                        found.append(f"{label}={alternative!r} is not a value of {label}")
        if is_counter(selector.name) and selector.name not in raw_counters_allowed and not selector.rated:
            found.append(f"counter {selector.name} outside rate()/increase()")
    for label in reading.grouping_labels:
        if label not in ALL_LABELS:
            found.append(f"grouping label {label!r} is on no metric")
    return found


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("rate(pilotzone_speeding_seconds_total[5m])", ["pilotzone_speeding_seconds_total is neither"]),
        ("pilotzone_event_processing_delay_seconds > 1", ["pilotzone_event_processing_delay_seconds is"]),
        ("sum(pilotzone_incidents_total)", ["counter pilotzone_incidents_total outside"]),
        ("max_over_time(pilotzone_samples_total[5m])", ["counter pilotzone_samples_total outside"]),
        (
            "histogram_quantile(0.9, sum by (le) (pilotzone_event_processing_delay_seconds_bucket))",
            ["counter pilotzone_event_processing_delay_seconds_bucket outside"],
        ),
        ('pilotzone_open_incidents{operator="a"}', ["pilotzone_open_incidents has no label 'operator'"]),
        (
            'increase(pilotzone_distance_meters_total{driving_mode="AUTONOMUS"}[1h])',
            ["driving_mode='AUTONOMUS' is not a value of driving_mode"],
        ),
        (
            'increase(pilotzone_incidents_total{severity=~"CRITICAL|SEVERE"}[5m])',
            ["severity='SEVERE' is not a value of severity"],
        ),
        ("sum by (zone) (pilotzone_active_vehicles)", ["grouping label 'zone' is on no metric"]),
        ("a:pilotzone_unknown:sum > 0", ["a:pilotzone_unknown:sum is neither"]),
        ('{__name__="pilotzone_open_incidents"} > 0', ["selector without a metric name"]),
    ],
)
def test_the_rule_reader_rejects(expr: str, expected: list[str]) -> None:
    assert_reported(problems(expr), expected)


def test_the_rule_reader_accepts_recording_rules_and_allowed_raw_counters() -> None:
    expr = "a:pilotzone_x:sum > 0 unless pilotzone_incidents_total offset 5m"
    assert (
        problems(
            expr,
            recorded=frozenset({"a:pilotzone_x:sum"}),
            raw_counters_allowed=frozenset({"pilotzone_incidents_total"}),
        )
        == []
    )


# --- The rules against the catalog -------------------------------------------------------------


@pytest.mark.parametrize("rule", [rule_name(rule) for rule in all_rules()])
def test_every_rule_reads_catalog_metrics_and_recording_rules_only(rule: str) -> None:
    definition = next(r for r in all_rules() if rule_name(r) == rule)
    recorded = frozenset(str(r["record"]) for r in recording_rules())
    allowed = frozenset(name for alert, name in RAW_COUNTER_READS if alert == rule)
    found = [
        f"{problem} (in {query!r})"
        for query in rule_queries(definition)
        for problem in problems(query, recorded, allowed)
    ]
    assert found == []


def test_every_catalog_metric_family_the_alerts_need_is_read() -> None:
    """Guards the reader as much as the rules: it must see the series the alerts are about."""
    read_names = {
        selector.name
        for rule in all_rules()
        for query in rule_queries(rule)
        for selector in read(query).selectors
    }
    needed = {
        "pilotzone_incidents_total",
        "pilotzone_active_vehicles",
        "pilotzone_permitted_vehicles",
        "pilotzone_zone_permitted_vehicles",
        "pilotzone_latest_telemetry_timestamp_seconds",
        "pilotzone_watermark_timestamp_seconds",
        "pilotzone_pipeline_running",
        "pilotzone_dead_letters_total",
        "pilotzone_records_read_total",
        "pilotzone_report_deadline_timestamp_seconds",
        "pilotzone_reports_due",
        "pilotzone_reports_overdue",
        "pilotzone_distance_meters_total",
        "pilotzone_disengagements_total",
        "pilotzone_violation_seconds_total",
        "pilotzone_vehicle_seconds_total",
        "pilotzone_samples_total",
        "pilotzone_event_processing_delay_seconds_bucket",
        "pilotzone_zone_config_info",
    }
    assert needed - read_names == set()


@functools.cache
def _split_level(level: str) -> tuple[str, ...] | None:
    """``pilot_zone_operator_rule`` as label names; None if it is not made of known labels."""
    if not level:
        return ()
    for label in sorted(ALL_LABELS, key=len, reverse=True):
        if level == label:
            return (label,)
        if level.startswith(f"{label}_"):
            rest = _split_level(level.removeprefix(f"{label}_"))
            if rest is not None:
                return (label, *rest)
    return None


def recorded_label_sets() -> dict[str, list[set[str]]]:
    """Label names of every expected sample of each recording rule in its unit tests."""
    found: dict[str, list[set[str]]] = {}
    for case in load(PROMETHEUS / "tests" / "recording_test.yml")["tests"]:
        for check in case.get("promql_expr_test", []):
            for sample in check["exp_samples"]:
                name, _, rest = sample["labels"].partition("{")
                labels = set(re.findall(r"(\w+)=", rest))
                found.setdefault(name, []).append(labels)
    return found


def test_recording_rules_are_named_level_metric_operations_with_the_labels_they_keep() -> None:
    label_sets = recorded_label_sets()
    for rule in recording_rules():
        name = str(rule["record"])
        level, metric, operations = name.split(":")
        assert metric.startswith("pilotzone_") and operations, name
        level_labels = _split_level(level)
        assert level_labels is not None, f"{name}: level {level!r} is not a list of labels"
        assert label_sets[name], f"{name} has no expected samples"
        for labels in label_sets[name]:
            assert labels == set(level_labels), (name, labels)


def test_every_alert_has_a_severity_a_summary_and_a_description() -> None:
    for rule in alert_rules():
        assert set(rule["labels"]) == {"severity"}, rule["alert"]
        assert rule["labels"]["severity"] in RECEIVERS, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        for text in rule["annotations"].values():
            assert "$labels." in text, f"{rule['alert']}: say which zone, operator or pipeline"


def test_rule_and_group_names_are_unique_across_both_files() -> None:
    """One PrometheusRule resource (deploy/k8s) holds the groups of both files together."""
    names = [rule_name(rule) for rule in all_rules()]
    assert len(names) == len(set(names))
    groups = [group["name"] for path in (RECORDING, ALERTS) for group in load(path)["groups"]]
    assert len(groups) == len(set(groups)), groups


# --- Every rule has unit tests -----------------------------------------------------------------


def test_every_recording_rule_has_exact_expected_values() -> None:
    tested = {
        check["expr"]
        for case in load(PROMETHEUS / "tests" / "recording_test.yml")["tests"]
        for check in case.get("promql_expr_test", [])
        if check["exp_samples"]
    }
    assert tested == {str(rule["record"]) for rule in recording_rules()}


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load(PROMETHEUS / "tests" / "alerts_test.yml")["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
            for alert in check["exp_alerts"]:
                assert set(alert["exp_annotations"]) == {"summary", "description"}, check
                assert "severity" in alert["exp_labels"], check
    names = {str(rule["alert"]) for rule in alert_rules()}
    assert firing == names
    assert quiet == names


# --- Configs -----------------------------------------------------------------------------------


def _host(address: str) -> str:
    return urllib.parse.urlsplit(address if "//" in address else f"//{address}").hostname or ""


def test_prometheus_scrapes_the_pipeline_and_the_pushgateway_and_alerts_locally() -> None:
    config = load(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["pilotzone"]["static_configs"] == [{"targets": ["127.0.0.1:9464"]}]
    assert jobs["pushgateway"]["static_configs"] == [{"targets": ["127.0.0.1:9091"]}]
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pilotzone-register"]["static_configs"] == [{"targets": ["127.0.0.1:9465"]}]
    assert config["rule_files"] == ["rules/recording.yml", "rules/alerts.yml"]
    targets = [
        t for am in config["alerting"]["alertmanagers"] for s in am["static_configs"] for t in s["targets"]
    ]
    assert targets == ["127.0.0.1:9093"]


def test_every_address_in_the_configs_is_loopback() -> None:
    prometheus = load(PROMETHEUS_CONFIG)
    addresses = [
        target
        for section in [*prometheus["scrape_configs"], *prometheus["alerting"]["alertmanagers"]]
        for static in section["static_configs"]
        for target in static["targets"]
    ]
    alertmanager = load(ALERTMANAGER_CONFIG)
    addresses += [hook["url"] for r in alertmanager["receivers"] for hook in r.get("webhook_configs", [])]
    assert len(addresses) == 7
    assert {_host(address) for address in addresses} == {"127.0.0.1"}


def test_alertmanager_groups_by_zone_and_alert_and_pages_critical_faster() -> None:
    route = load(ALERTMANAGER_CONFIG)["route"]
    assert route["group_by"] == ["alertname", "pilot_zone"]
    critical = next(r for r in route["routes"] if r["matchers"] == ['severity="critical"'])
    assert critical["receiver"] == "operators-page"
    for setting in ("group_wait", "group_interval", "repeat_interval"):
        assert _seconds(critical[setting]) < _seconds(route[setting]), setting


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


# --- Inhibition, on a real Alertmanager --------------------------------------------------------


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """The shipped config on a real Alertmanager on 127.0.0.1 (no cluster); yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = alertmanager_command(tmp_path, port, ALERTMANAGER_CONFIG)
    with server(command, f"{url}/-/ready", tmp_path / "alertmanager.log"):
        yield url


def post_alerts(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def inhibited(url: str) -> dict[tuple[str, str], bool]:
    """``(alertname, pilot_zone) -> inhibited?`` for every alert Alertmanager holds."""
    return {
        (alert["labels"]["alertname"], alert["labels"].get("pilot_zone", "")): bool(
            alert["status"]["inhibitedBy"]
        )
        for alert in json.loads(http_get(f"{url}/api/v2/alerts"))
    }


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(
    "alerts",
    [
        pytest.param(
            [
                ("CriticalIncidentOpened", "critical", "gwangju", False),
                ("ZoneTelemetryStale", "warning", "gwangju", True),
                ("ZoneTelemetryStale", "warning", "sejong", False),
                ("ReportDeadlineApproaching", "warning", "gwangju", True),
                # Neither names a zone: a zone-less critical must not silence every zone-less warning.
                ("PipelineStoppedReporting", "critical", "", False),
                ("DeadLettersHigh", "warning", "", False),
            ],
            id="a-critical-alert-inhibits-the-warnings-of-its-zone-only",
        ),
        pytest.param(
            [
                ("PipelineStalled", "critical", "", False),
                ("ZoneTelemetryStale", "warning", "gwangju", True),
                ("ZoneTelemetryStale", "warning", "sejong", True),
                ("DeadLettersHigh", "warning", "", False),
            ],
            id="a-stalled-pipeline-inhibits-every-stale-zone",
        ),
    ],
)
def test_inhibition_silences_exactly_the_alerts_a_critical_one_explains(
    alertmanager: str, alerts: list[tuple[str, str, str, bool]]
) -> None:
    """Each alert is ``(alertname, severity, pilot_zone, inhibited?)``; one without a zone comes
    from the pipeline's job instead."""
    post_alerts(
        alertmanager,
        [
            {
                "alertname": name,
                "severity": severity,
                **({"pilot_zone": zone} if zone else {"job": "pilotzone"}),
            }
            for name, severity, zone, _ in alerts
        ],
    )
    expected = {(name, zone): held for name, _, zone, held in alerts}
    wait_for(lambda: inhibited(alertmanager) == expected, 15, "exactly the explained alerts to be inhibited")
