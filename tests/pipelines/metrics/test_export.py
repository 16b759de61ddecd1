"""The metric catalog, the exporter's figures, and where they go: endpoint, file, Pushgateway."""

from __future__ import annotations

import base64
import ssl
import subprocess
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.exposition import generate_latest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.metrics.catalog import BY_NAME, CATALOG, COUNTER, PIPELINE
from pilotzone.pipelines.metrics.export import (
    Exporter,
    ExportSettings,
    PipelineFigures,
    SnapshotCollector,
    pipeline_families,
    registry_of,
)
from pilotzone.pipelines.metrics.fence_metrics import FENCE_FAMILIES
from pilotzone.pipelines.metrics.server import BasicAuth, EndpointOptions
from pilotzone.zones import Zone, load_zones
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.metrics.exposition import Samples, samples_of
from tests.servers import executable, http_get, pushgateway

ROOT = Path(__file__).resolve().parents[3]
GWANGJU = ROOT / "zones" / "configs" / "gwangju.yaml"


def of(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# -- the catalog ---------------------------------------------------------------------------


def test_catalog_follows_prometheus_naming() -> None:
    for spec in CATALOG:
        assert spec.name.startswith("pilotzone_"), spec.name
        assert spec.name.endswith("_total") == (spec.type == COUNTER), spec.name
        assert spec.help.endswith("."), spec.name
        assert not {"vehicle_id", "vehicle", "zone", "region", "cluster", "env"} & set(spec.labels), spec.name
        if spec.unit in {"seconds", "meters"}:
            assert spec.family.endswith(f"_{spec.unit}"), f"{spec.name}: base unit belongs in the name"
        assert "milli" not in spec.name and "_km" not in spec.name, "base units only"


def test_readme_catalog_lists_every_metric_with_its_type_and_labels() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in readme.splitlines()
        if line.startswith("| `pilotzone_")
    }
    assert set(rows) == set(BY_NAME), "README's metric catalog table and pipelines/catalog.py differ"
    for spec in CATALOG:
        assert f"| {spec.type} |" in rows[spec.name], spec.name
        for label in spec.labels:
            assert label in rows[spec.name], (spec.name, label)


# -- figures from a run's outputs ----------------------------------------------------------


def _summary(window_end: str, operator: str, vehicle_class: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "window_end": window_end,
        "pilot_zone": "gwangju",
        "operator": operator,
        "vehicle_class": vehicle_class,
        "samples": 0,
        "active_vehicles": 0,
        "vehicle_seconds": 0.0,
        "distance_m_by_mode": {},
        "violation_s_by_rule": {},
        "disengagements": 0,
        "remote_takeovers": 0,
    }
    return row | values


def _incident(rule: str, severity: str, end: str | None, deadline: str | None) -> dict[str, Any]:
    return {
        "pilot_zone": "gwangju",
        "operator_id": "gwangju-robotaxi-a",
        "rule_id": rule,
        "kind": "speed_limit",
        "severity": severity,
        "end_time": end,
        "report_deadline": deadline,
    }


def test_families_sum_the_summaries_and_count_the_incident_log() -> None:
    summaries = [
        _summary("2026-11-23T01:01:00.000Z", "gwangju-robotaxi-a", "ROBOTAXI", samples=60, active_vehicles=1,
                 vehicle_seconds=59.5, distance_m_by_mode={"AUTONOMOUS": 100.125}, violation_s_by_rule={"speed": 3.1}),
        _summary("2026-11-23T01:02:00.000Z", "gwangju-robotaxi-a", "ROBOTAXI", samples=120, active_vehicles=2,
                 vehicle_seconds=118.25, distance_m_by_mode={"AUTONOMOUS": 0.2, "MANUAL": 7.0}, disengagements=2),
        _summary("2026-11-23T01:01:00.000Z", "gwangju-shuttle-b", "BUS", samples=30, active_vehicles=1, remote_takeovers=1),
    ]  # fmt: skip
    incidents = [
        _incident("speed", "MAJOR", None, "2026-11-24T01:00:00.000Z"),
        _incident("speed", "MAJOR", "2026-11-23T01:01:30.000Z", "2026-11-23T02:00:00.000Z"),
        _incident("speed", "MAJOR", "2026-11-23T01:01:40.000Z", "2026-11-24T05:00:00.000Z"),
    ]
    totals = {"records_read": 215, "dead_letters_late": 2, "dead_letters_not_avro": 3, "delay_bucket_00": 5,
              "delay_bucket_04": 200, "delay_bucket_11": 1, "delay_ms_sum": 9_000_500, "event_time_ms_max": 1_795_395_720_000}  # fmt: skip
    now_s = 1795395600.0 + 3600  # 2026-11-23T02:00:00Z: the second incident's deadline has passed
    registry = registry_of(
        SnapshotCollector(
            pipeline_families(load_zones([GWANGJU]), PipelineFigures(summaries, incidents, totals), now_s)
        )
    )
    got = samples_of(generate_latest(registry).decode())
    fleet = {"pilot_zone": "gwangju", "operator": "gwangju-robotaxi-a", "vehicle_class": "ROBOTAXI"}
    assert of(got, "pilotzone_samples_total", **fleet) == 180
    assert of(got, "pilotzone_vehicle_seconds_total", **fleet) == 177.75
    assert of(got, "pilotzone_distance_meters_total", **fleet, driving_mode="AUTONOMOUS") == 100.325
    assert of(got, "pilotzone_violation_seconds_total", **fleet, rule="speed") == 3.1
    assert of(got, "pilotzone_disengagements_total", **fleet) == 2
    # The latest window is 01:02; the bus fleet was not in it, so it shows 0, not nothing.
    assert of(got, "pilotzone_active_vehicles", **fleet) == 2
    assert (
        of(
            got,
            "pilotzone_active_vehicles",
            pilot_zone="gwangju",
            operator="gwangju-shuttle-b",
            vehicle_class="BUS",
        )
        == 0
    )
    assert of(got, "pilotzone_latest_telemetry_timestamp_seconds", pilot_zone="gwangju") == 1795395720.0
    rule = {"pilot_zone": "gwangju", "rule": "speed", "severity": "MAJOR"}
    assert (
        of(got, "pilotzone_incidents_total", **rule, operator="gwangju-robotaxi-a", kind="speed_limit") == 3
    )
    assert of(got, "pilotzone_open_incidents", **rule) == 1
    assert of(got, "pilotzone_reports_due", **rule) == 2
    assert of(got, "pilotzone_report_deadline_timestamp_seconds", **rule) == 1795482000.0
    assert of(got, "pilotzone_dead_letters_total", reason="not_avro") == 3
    assert of(got, "pilotzone_late_samples_total") == 2
    assert of(got, "pilotzone_event_processing_delay_seconds_bucket", le="1.0") == 5
    assert of(got, "pilotzone_event_processing_delay_seconds_bucket", le="60.0") == 205
    assert of(got, "pilotzone_event_processing_delay_seconds_bucket", le="+Inf") == 206
    assert of(got, "pilotzone_event_processing_delay_seconds_count") == 206
    assert of(got, "pilotzone_event_processing_delay_seconds_sum") == 9000.5
    assert of(got, "pilotzone_watermark_timestamp_seconds") == 1795395720.0
    assert of(got, "pilotzone_pipeline_running") == 0
    assert of(got, "pilotzone_permitted_vehicles", pilot_zone="gwangju", operator="gwangju-robotaxi-a") == 80
    assert of(got, "pilotzone_zone_permitted_vehicles", pilot_zone="gwangju") == 200
    (version,) = [
        dict(labels)["config_version"] for name, labels in got if name == "pilotzone_zone_config_info"
    ]
    assert version == load_zones([GWANGJU])[0].version
    names = {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name, _ in got}
    exported = {spec.name for spec in CATALOG if spec.source == PIPELINE} - set(FENCE_FAMILIES)
    assert names == exported, "every catalog metric of a run without fences is exported, and nothing else"


# -- a real run: promtool, one worker vs two, the endpoint and the Pushgateway ----------------


def run(fleet: Path, out: Path, *options: str) -> Path:
    """``pilotzone run`` over the fleet with ``options``; returns the output folder."""
    status = main(
        [
            "run",
            "--zones",
            str(EVERY_KIND_ZONE),
            "--input",
            str(fleet / "telemetry" / "**" / "*.avro"),
            "--incidents",
            str(out / "incidents.jsonl"),
            "--allowed-lateness",
            "3600",
            "--quiet",
            *options,
        ]
    )
    assert status == 0
    return out


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory, small_fleet: Path) -> Path:
    out = tmp_path_factory.mktemp("one")
    return run(small_fleet, out, "--metrics-file", str(out / "metrics.txt"))


def _processing_time_free(samples: Samples) -> Samples:
    """Drop what depends on the wall clock: delay buckets and sum (their count stays)."""
    return {
        key: value
        for key, value in samples.items()
        if key[0]
        not in {
            "pilotzone_event_processing_delay_seconds_bucket",
            "pilotzone_event_processing_delay_seconds_sum",
        }
    }


@pytest.mark.slow
def test_two_worker_processes_export_exactly_what_one_does(
    tmp_path: Path, small_fleet: Path, one_worker: Path
) -> None:
    two = run(
        small_fleet,
        tmp_path,
        "--runner",
        "direct-multiprocess",
        "--workers",
        "2",
        "--metrics-file",
        str(tmp_path / "metrics.txt"),
    )
    one_text = (one_worker / "metrics.txt").read_text()
    two_text = (two / "metrics.txt").read_text()
    assert _processing_time_free(samples_of(two_text)) == _processing_time_free(samples_of(one_text))
    assert (two / "incidents.jsonl").read_bytes() == (one_worker / "incidents.jsonl").read_bytes()


@pytest.mark.slow
def test_exported_figures_equal_the_incident_log_and_summaries(one_worker: Path) -> None:
    got = samples_of((one_worker / "metrics.txt").read_text())
    incidents = read_jsonl(one_worker / "incidents.jsonl")
    summaries = read_jsonl(one_worker / "summaries.jsonl")
    dead = read_jsonl(one_worker / "dead-letters.jsonl")
    assert incidents and summaries and dead, "the fleet has incidents, summaries and dead letters"
    by_rule = Counter(
        (i["pilot_zone"], i["operator_id"], i["rule_id"], i["kind"], i["severity"]) for i in incidents
    )
    exported = {
        (d["pilot_zone"], d["operator"], d["rule"], d["kind"], d["severity"]): value
        for (name, labels), value in got.items()
        if name == "pilotzone_incidents_total" and (d := dict(labels))
    }
    assert exported == dict(by_rule)
    distance: dict[str, float] = defaultdict(float)
    for row in summaries:
        for mode, metres in row["distance_m_by_mode"].items():
            distance[mode] += metres
    exported_distance: dict[str, float] = defaultdict(float)
    for (name, labels), value in got.items():
        if name == "pilotzone_distance_meters_total":
            exported_distance[dict(labels)["driving_mode"]] += value
    assert exported_distance == pytest.approx(distance, abs=1e-6)
    samples = sum(v for (name, _), v in got.items() if name == "pilotzone_samples_total")
    assert samples == sum(row["samples"] for row in summaries)
    reasons = Counter()
    for row in dead:
        reasons[row["reason"]] += row["records"]
    assert {
        dict(labels)["reason"]: v
        for (name, labels), v in got.items()
        if name == "pilotzone_dead_letters_total"
    } == dict(reasons)
    read = of(got, "pilotzone_records_read_total")
    assert read == samples + sum(reasons.values()), "read = evaluated + dead-lettered"
    # Every decoded sample was timed once (duplicates and late ones are dead-lettered later).
    assert of(got, "pilotzone_event_processing_delay_seconds_count") == read - sum(
        n for reason, n in reasons.items() if reason not in {"duplicate", "late", "outside_all_zones"}
    )


@pytest.mark.integration
@pytest.mark.slow
def test_promtool_accepts_the_exposition(one_worker: Path) -> None:
    # The OpenMetrics file parses with the strict OpenMetrics parser; re-served in the classic
    # text format (what the endpoint serves to Prometheus), promtool's linter accepts it.
    # (promtool 2.42 lints only the classic format.)
    classic = generate_latest(_registry_from((one_worker / "metrics.txt").read_bytes()))
    checked = subprocess.run(
        [executable("promtool"), "check", "metrics"],
        check=False,
        input=classic,
        capture_output=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def _registry_from(openmetrics: bytes) -> Any:
    """A registry re-serving parsed OpenMetrics text, to check the classic text format too."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

    return registry_of(SnapshotCollector(list(parse_openmetrics(openmetrics.decode()))))


@pytest.mark.integration
def test_endpoint_serves_over_tls_with_basic_auth(tmp_path: Path, every_kind_zones: list[Zone]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (tmp_path / "auth").write_text("prometheus:s3cret pass\n")
    endpoint = EndpointOptions(
        port=0, tls_cert=cert, tls_key=key, basic_auth=BasicAuth.from_file(tmp_path / "auth")
    )
    exporter = Exporter(every_kind_zones, ExportSettings(endpoint=endpoint))
    exporter.start()
    try:
        assert exporter.endpoint is not None and exporter.endpoint.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        request = urllib.request.Request(exporter.endpoint.url)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, context=context, timeout=5)
        assert refused.value.code == 401
        token = base64.b64encode(b"prometheus:s3cret pass").decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            got = samples_of(response.read().decode())
        # While the pipeline runs, the endpoint already tells which config is in force.
        assert of(got, "pilotzone_pipeline_running") == 1
        assert any(name == "pilotzone_zone_config_info" for name, _ in got)
    finally:
        exporter.close()


def test_basic_auth_file_must_hold_user_and_password(tmp_path: Path) -> None:
    (tmp_path / "auth").write_text("just-a-user\n")
    with pytest.raises(ValueError, match="user:password"):
        BasicAuth.from_file(tmp_path / "auth")


@pytest.mark.integration
@pytest.mark.slow
def test_pushgateway_holds_the_final_figures_once_however_often_pushed(
    tmp_path: Path, small_fleet: Path, one_worker: Path
) -> None:
    with pushgateway(tmp_path) as url:
        for attempt in ("first", "again"):
            run(small_fleet, tmp_path / attempt, "--pushgateway", url, "--pipeline-name", "gwangju-replay")
        pushed = samples_of(http_get(f"{url}/metrics").decode())
    group = (("instance", ""), ("job", "pilotzone"), ("pipeline", "gwangju-replay"))
    ours = {
        (name, tuple(sorted(set(labels) - set(group)))): value
        for (name, labels), value in pushed.items()
        if name.startswith("pilotzone_") and set(group) <= set(labels)
    }
    expected = samples_of((one_worker / "metrics.txt").read_text())
    assert _processing_time_free(ours) == _processing_time_free(expected)


@pytest.mark.slow
def test_unreachable_pushgateway_is_a_clear_error(
    tmp_path: Path, small_fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.servers import free_port

    status = main(
        ["run", "--zones", str(EVERY_KIND_ZONE), "--input", str(small_fleet / "telemetry" / "**" / "*.avro"),
         "--incidents", str(tmp_path / "incidents.jsonl"), "--quiet",
         "--pushgateway", f"http://127.0.0.1:{free_port()}"]
    )  # fmt: skip
    assert status == 1
    assert "could not push metrics to http://127.0.0.1:" in capsys.readouterr().err
    assert (tmp_path / "incidents.jsonl").exists(), "the incident log is written before pushing"


@pytest.mark.slow
def test_spilling_vehicles_to_disk_exports_exactly_what_memory_does(
    tmp_path: Path, small_fleet: Path, one_worker: Path
) -> None:
    spilled = run(small_fleet, tmp_path, "--spill-buckets", "3", "--spill-dir", str(tmp_path), "--metrics-file",
                  str(tmp_path / "metrics.txt"))  # fmt: skip
    assert _processing_time_free(samples_of((spilled / "metrics.txt").read_text())) == _processing_time_free(
        samples_of((one_worker / "metrics.txt").read_text())
    )
    assert (spilled / "incidents.jsonl").read_bytes() == (one_worker / "incidents.jsonl").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pilotzone-spill-")], (
        "spill folder removed"
    )
