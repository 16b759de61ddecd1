"""The Grafana dashboards: committed JSON is what the code generates, and every query reads the catalog.

Grafana cannot run here, so the checks are on the JSON Grafana would load: data source and
units on every panel, stable uids and ids, and, through the PromQL reader in ``tests/promql.py``,
every metric selector, the functions around it and the labels it uses. The check has its own
tests with queries that must be rejected, so a check that stopped finding problems would fail.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models import units

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.dashboards import DASHBOARD_UIDS, ZONE_UID, all_dashboards, render
from pilotzone.pipelines.metrics.catalog import BY_NAME, CATALOG
from tests.dashboard_queries import concrete_queries, panel_queries, substitute
from tests.promql import HISTOGRAM_SERIES, assert_reported, catalog_labels, is_counter, read

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "deploy" / "grafana"
COMMITTED = GRAFANA / "dashboards"
MOUNTED_DASHBOARDS = "/var/lib/grafana/dashboards/pilotzone"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_UNITS = {value for value in vars(units).values() if isinstance(value, str)}


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    return all_dashboards()


def panels_of(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data (rows are headings), including panels inside collapsed rows."""
    stack = list(board["panels"])
    while stack:
        panel = stack.pop(0)
        stack[:0] = panel.get("panels", [])
        if panel["type"] != "row":
            yield panel


def every_panel(dashboards: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for uid, board in dashboards.items():
        for panel in panels_of(board):
            yield uid, panel


# --- Queries against the catalog ----------------------------------------------------------------


def problems(expr: str, legend: str = "") -> list[str]:
    """Everything wrong with one panel query against the catalog."""
    reading = read(expr)
    found = list(reading.errors)
    if not reading.selectors:
        found.append(f"no metric in {expr!r}")
    known: set[str] = set()
    for selector in reading.selectors:
        labels = catalog_labels(selector.name)
        if labels is None:
            found.append(f"{selector.name} is not in the metric catalog")
            continue
        known.update(labels)
        for label in selector.matcher_labels:
            if label not in labels:
                found.append(f"{selector.name} has no label {label!r}")
        if is_counter(selector.name) and not selector.rated:
            found.append(f"counter {selector.name} outside rate()/increase() in {expr!r}")
    for label in [*reading.grouping_labels, *re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)]:
        if label not in known:
            found.append(f"label {label!r} is on none of the metrics of {expr!r}")
    return found


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("sum(pilotzone_samples_total)", ["counter pilotzone_samples_total outside rate()/increase()"]),
        ("sum by (pilot_zone) (pilotzone_samples_total)", ["counter pilotzone_samples_total outside"]),
        ("sum(rate(pilotzone_samples_total))", ["counter pilotzone_samples_total outside"]),
        ("max_over_time(pilotzone_samples_total[5m])", ["counter pilotzone_samples_total outside"]),
        (
            "rate(pilotzone_samples_total[5m]) + pilotzone_disengagements_total",
            ["counter pilotzone_disengagements_total"],
        ),
        (
            "histogram_quantile(0.9, sum by (le) (pilotzone_event_processing_delay_seconds_bucket))",
            ["counter pilotzone_event_processing_delay_seconds_bucket outside"],
        ),
        (
            "rate(pilotzone_speeding_seconds_total[5m])",
            ["pilotzone_speeding_seconds_total is not in the metric catalog"],
        ),
        (
            "pilotzone_event_processing_delay_seconds",
            ["pilotzone_event_processing_delay_seconds is not in the metric catalog"],
        ),
        ("sum by (operator) (pilotzone_open_incidents)", ["label 'operator' is on none of the metrics"]),
        ('pilotzone_open_incidents{operator="a"}', ["pilotzone_open_incidents has no label 'operator'"]),
        # Target labels (job, instance) are not in the catalog: dashboards must not depend on them.
        (
            'max(pilotzone_watermark_timestamp_seconds{job=~"pilot.*"})',
            ["pilotzone_watermark_timestamp_seconds has no label 'job'"],
        ),
        ("sum by (le) (pilotzone_open_incidents)", ["label 'le' is on none"]),
        ('{__name__="pilotzone_open_incidents"}', ["selector without a metric name", "no metric"]),
        ("time()", ["no metric"]),
        ("sum(rate(pilotzone_samples_total[5m])", ["unbalanced parentheses"]),
    ],
)
def test_the_query_reader_rejects(expr: str, expected: list[str]) -> None:
    assert_reported(problems(expr), expected)


@pytest.mark.parametrize(
    ("expr", "legend"),
    [
        (
            'sum by (rule) (rate(pilotzone_violation_seconds_total{pilot_zone="$pilot_zone"}[$__rate_interval]))',
            "{{rule}}",
        ),
        ("sum(rate(pilotzone_samples_total[5m])) by (operator)", "{{operator}}"),
        (
            "histogram_quantile(0.5, sum by (le) (rate(pilotzone_event_processing_delay_seconds_bucket[5m])))",
            "",
        ),
        ("max_over_time(timestamp(pilotzone_zone_config_info)[1h:5m])", "{{config_version}}"),
        ("time() - max(pilotzone_watermark_timestamp_seconds offset 5m)", ""),
    ],
)
def test_the_query_reader_accepts(expr: str, legend: str) -> None:
    assert problems(expr, legend) == []


# --- Generated files ---------------------------------------------------------------------------


def test_committed_json_is_what_the_code_generates(dashboards: dict[str, dict[str, Any]]) -> None:
    assert sorted(path.name for path in COMMITTED.glob("*.json")) == sorted(
        f"{uid}.json" for uid in DASHBOARD_UIDS
    )
    for uid, board in dashboards.items():
        committed = (COMMITTED / f"{uid}.json").read_text(encoding="utf-8")
        assert committed == render(board), f"{uid}.json is stale: run `pilotzone dashboards`"


def test_regenerating_gives_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["dashboards", "--out", str(first)]) == 0
    assert main(["dashboards", "--out", str(second)]) == 0
    for uid in DASHBOARD_UIDS:
        generated = (first / f"{uid}.json").read_bytes()
        assert generated == (second / f"{uid}.json").read_bytes()
        assert generated == (COMMITTED / f"{uid}.json").read_bytes()
        assert generated.endswith(b"}\n") and not generated.endswith(b"\n\n")


def test_render_sorts_keys_and_indents_by_two() -> None:
    assert render({"b": 1, "a": {"d": [1], "c": "é"}}) == (
        '{\n  "a": {\n    "c": "é",\n    "d": [\n      1\n    ]\n  },\n  "b": 1\n}\n'
    )


# --- Dashboards --------------------------------------------------------------------------------


def test_uids_and_titles_are_stable(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {uid: board["uid"] for uid, board in dashboards.items()} == {
        "pilotzone-overview": "pilotzone-overview",
        "pilotzone-zone": "pilotzone-zone",
        "pilotzone-pipeline": "pilotzone-pipeline",
    }
    for board in dashboards.values():
        assert board["tags"] == ["pilotzone"]
        assert board["editable"] is False
        assert board["timezone"] == "Asia/Seoul"


def test_time_range_and_refresh_suit_regulators(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {
        uid: (board["time"]["from"], board["time"]["to"], board["refresh"])
        for uid, board in dashboards.items()
    } == {
        "pilotzone-overview": ("now-24h", "now", "1m"),
        "pilotzone-zone": ("now-24h", "now", "1m"),
        "pilotzone-pipeline": ("now-6h", "now", "1m"),
    }
    for board in dashboards.values():
        assert board["timepicker"]["refresh_intervals"] == ["1m", "5m", "15m", "1h"]


def test_every_dashboard_has_the_prometheus_datasource_variable(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    for board in dashboards.values():
        variables = {variable["name"]: variable for variable in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for variable in variables.values():
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE


def test_every_panel_and_target_reads_the_datasource_variable(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, panel in every_panel(dashboards):
        assert panel["datasource"] == DATASOURCE, (uid, panel["title"])
        assert panel["targets"], (uid, panel["title"])
        for target in panel["targets"]:
            assert target.get("datasource", DATASOURCE) == DATASOURCE, (uid, panel["title"])
            assert target["expr"] and target["refId"], (uid, panel["title"])


def test_zone_detail_picks_the_zone_from_the_catalog() -> None:
    variables = {variable["name"]: variable for variable in all_dashboards()[ZONE_UID]["templating"]["list"]}
    zone = variables["pilot_zone"]
    assert zone["query"] == "label_values(pilotzone_zone_config_info, pilot_zone)"
    assert "pilot_zone" in BY_NAME["pilotzone_zone_config_info"].labels
    exprs = [expr for _, expr in panel_queries(all_dashboards()[ZONE_UID])]
    assert all('pilot_zone="$pilot_zone"' in expr for expr in exprs)


def test_every_panel_has_a_grafana_unit(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {"s", "percentunit", "short", "dateTimeAsIso", "lengthm"} <= GRAFANA_UNITS
    for uid, panel in every_panel(dashboards):
        assert panel["fieldConfig"]["defaults"]["unit"] in GRAFANA_UNITS, (uid, panel["title"])
        for override in panel["fieldConfig"]["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "unit":
                    assert prop["value"] in GRAFANA_UNITS, (uid, panel["title"])


def test_panels_have_stable_unique_ids_titles_and_descriptions(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, board in dashboards.items():
        ids = [panel["id"] for panel in board["panels"]]
        assert all(isinstance(panel_id, int) and panel_id > 0 for panel_id in ids), uid
        assert len(ids) == len(set(ids)), uid
        titles = [panel["title"] for panel in panels_of(board)]
        assert len(titles) == len(set(titles)), uid
        for panel in panels_of(board):
            assert len(panel.get("description", "")) > 40, (uid, panel["title"])


def test_panels_fit_the_grid_without_overlapping(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, board in dashboards.items():
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (uid, panel["title"])
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & area, (uid, panel["title"])
            cells |= area


def test_table_columns_name_existing_queries(dashboards: dict[str, dict[str, Any]]) -> None:
    for uid, panel in every_panel(dashboards):
        if panel["type"] != "table":
            continue
        refs = [target["refId"] for target in panel["targets"]]
        value_columns = {"Value"} if len(refs) == 1 else {f"Value #{ref}" for ref in refs}
        organize = next(t for t in panel["transformations"] if t["id"] == "organize")["options"]
        renamed = set(organize["renameByName"])
        assert value_columns <= renamed, (uid, panel["title"])
        assert all(target.get("format") == "table" and target.get("instant") for target in panel["targets"])


# --- Queries -----------------------------------------------------------------------------------


def test_every_query_reads_catalog_metrics_and_counters_only_through_rate_or_increase(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    found = [
        f"{uid} / {panel['title']}: {problem}"
        for uid, panel in every_panel(dashboards)
        for target in panel["targets"]
        for problem in problems(target["expr"], target.get("legendFormat", ""))
    ]
    assert found == []


def test_every_catalog_metric_is_on_some_dashboard(dashboards: dict[str, dict[str, Any]]) -> None:
    referenced = {
        selector.name.removesuffix(suffix)
        for board in dashboards.values()
        for _, expr in panel_queries(board)
        for selector in read(expr).selectors
        for suffix in ("", *HISTOGRAM_SERIES)
    }
    assert {spec.name for spec in CATALOG} - referenced == set()


def test_panel_queries_lists_every_target_with_its_panel_title(dashboards: dict[str, dict[str, Any]]) -> None:
    board = dashboards["pilotzone-pipeline"]
    expected = [(panel["title"], target["expr"]) for panel in panels_of(board) for target in panel["targets"]]
    assert panel_queries(board) == expected
    assert ("Watermark lag", "time() - min(pilotzone_watermark_timestamp_seconds)") in expected
    nested = {
        "panels": [{"type": "row", "title": "r", "panels": [{"title": "t", "targets": [{"expr": "up"}]}]}]
    }
    assert panel_queries(nested) == [("t", "up")]


def test_concrete_queries_substitute_every_template_variable(dashboards: dict[str, dict[str, Any]]) -> None:
    queries = concrete_queries(pilot_zone="gwangju", interval="5m", time_range="2h")
    assert len(queries) == sum(len(panel_queries(board)) for board in dashboards.values())
    assert {query.dashboard_uid for query in queries} == set(DASHBOARD_UIDS)
    assert not [query for query in queries if "$" in query.expr]
    zone_queries = [query.expr for query in queries if query.dashboard_uid == ZONE_UID]
    assert all('pilot_zone="gwangju"' in expr for expr in zone_queries)
    assert (
        "pilotzone-pipeline",
        "Records read per second",
        "sum(rate(pilotzone_records_read_total[5m]))",
    ) in queries
    assert any("[2h:5m]" in query.expr for query in queries)
    for query in queries:
        assert problems(query.expr) == [], query


def test_concrete_queries_refuse_values_that_would_break_promql() -> None:
    with pytest.raises(ValueError, match="zone id"):
        concrete_queries(pilot_zone='gwangju"} or vector(1)')
    with pytest.raises(ValueError, match="duration"):
        concrete_queries(pilot_zone="gwangju", interval="5 minutes")
    with pytest.raises(KeyError, match=r"\$operator"):
        substitute('x{operator="$operator"}', {"pilot_zone": "gwangju"})
    assert substitute("a[${__range}] $pilot_zone", {"__range": "1h", "pilot_zone": "z"}) == "a[1h] z"


# --- Provisioning and the pin ------------------------------------------------------------------


def test_datasource_provisioning_is_the_compose_prometheus() -> None:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text(encoding="utf-8")
    )
    assert config["apiVersion"] == 1
    [datasource] = config["datasources"]
    assert {key: datasource[key] for key in ("type", "uid", "url", "access", "isDefault")} == {
        "type": "prometheus",
        "uid": "prometheus",
        "url": "http://prometheus:9090",
        "access": "proxy",
        "isDefault": True,
    }


def test_dashboard_provisioning_points_at_the_mounted_dashboards_folder() -> None:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "pilotzone.yaml").read_text(encoding="utf-8")
    )
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Pilot zones"
    assert provider["options"]["path"] == MOUNTED_DASHBOARDS
    assert provider["allowUiUpdates"] is False
    readme = (GRAFANA / "README.md").read_text(encoding="utf-8")
    assert f"deploy/grafana/dashboards:{MOUNTED_DASHBOARDS}" in readme


def test_the_grafana_sdk_is_pinned_to_an_11_build() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = project["project"]["optional-dependencies"]
    [requirement] = extras["dashboards"]
    assert requirement in extras["test"]
    name, _, pin = requirement.partition("==")
    assert name == "grafana-foundation-sdk"
    assert re.fullmatch(r"[0-9]+!11\.[0-9]+\.[0-9]+", pin), pin
    assert metadata.version("grafana-foundation-sdk") == pin
