"""The emergency-fence families of a replay, exact, on a hand-built scenario.

A fence over a corner of the every-kind zone takes effect one minute into five minutes of
fixes (every 10 s), with the default 120 s to leave. Two robotaxis are inside then: one
leaves 60 s later, one is still inside at the last fix (overdue). A shuttle enters at 150 s
after the start and leaves at 240 s; a delivery robot, of a class the fence does not bind,
sits inside throughout. The last fix is 300 s after T0 (240 s after the fence took effect).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.exposition import generate_latest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.metrics.export import (
    PipelineFigures,
    SnapshotCollector,
    pipeline_families,
    registry_of,
)
from pilotzone.pipelines.metrics.fence_metrics import FENCE_FAMILIES
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import rfc3339_ms
from pilotzone.zones.fences.figures import FenceFigures, FenceProgress, FenceSpan, FenceTerms
from tests.dashboard_queries import concrete_queries
from tests.factories import T0_MS, sample, write_container
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.metrics.exposition import Samples, samples_of
from tests.pipelines.metrics.test_history import query_at
from tests.servers import executable, prometheus, run_tool, wait_for

pytestmark = pytest.mark.fences

FENCE_START_MS = T0_MS + 60_000
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[126.860, 35.142], [126.864, 35.142], [126.864, 35.146], [126.860, 35.146], [126.860, 35.142]]],
}  # fmt: skip
INSIDE = (126.862, 35.144)
OUTSIDE = (126.875, 35.144)
ZONE = "test-every-kind"

VEHICLES = {
    # vehicle: (operator, class, inside during [from, to) seconds after T0)
    "veh-leaves": ("op-taxi", "ROBOTAXI", (0, 120)),
    "veh-stays": ("op-taxi", "ROBOTAXI", (0, 10_000)),
    "veh-enters": ("op-transit", "SHUTTLE", (210, 300)),
    "veh-robot": ("op-robots", "DELIVERY_ROBOT", (0, 10_000)),
}
TAXI = {"pilot_zone": ZONE, "fence": "fire-1", "operator": "op-taxi", "vehicle_class": "ROBOTAXI"}
SHUTTLE = {"pilot_zone": ZONE, "fence": "fire-1", "operator": "op-transit", "vehicle_class": "SHUTTLE"}


def write_scenario(folder: Path) -> tuple[Path, Path]:
    """The fleet's files (one per vehicle) and the fence folder; returns (input glob root, fences)."""
    telemetry = folder / "telemetry"
    telemetry.mkdir(parents=True)
    for vehicle, (operator, vehicle_class, (inside_from, inside_to)) in VEHICLES.items():
        records = []
        for index, s in enumerate(range(0, 301, 10)):
            lon, lat = INSIDE if inside_from <= s < inside_to else OUTSIDE
            records.append(
                sample(
                    vehicle_id=vehicle,
                    operator_id=operator,
                    vehicle_class=vehicle_class,
                    sequence_number=index,
                    current_location_timestamp=T0_MS + s * 1000,
                    current_location_longitude=lon,
                    current_location_latitude=lat,
                    speed=0.0,
                )
            )
        write_container(telemetry / f"{vehicle}.avro", records)
    fences = folder / "fences"
    fences.mkdir()
    document = {
        "id": "fire-1",
        "pilot_zone": ZONE,
        "polygon": SQUARE,
        "vehicle_classes": ["ROBOTAXI", "SHUTTLE"],
        "effective_from": rfc3339_ms(FENCE_START_MS),
        "reason": "warehouse fire",
    }
    (fences / "fire-1.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return telemetry, fences


def replay(folder: Path, telemetry: Path, *extra: str) -> Path:
    out = folder / "out"
    status = main(
        ["run", "--zones", str(EVERY_KIND_ZONE), "--input", str(telemetry / "*.avro"),
         "--incidents", str(out / "incidents.jsonl"), "--quiet", "--metrics-file", str(out / "metrics.txt"), *extra]
    )  # fmt: skip
    assert status == 0
    return out


@pytest.fixture(scope="module")
def fenced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fenced")
    telemetry, fences = write_scenario(folder)
    return replay(
        folder, telemetry, "--fences", str(fences), "--history-openmetrics", str(folder / "history.om")
    )


def fence_samples(samples: Samples) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {key: value for key, value in samples.items() if key[0].startswith("pilotzone_fence")}


def of(samples: Samples, name: str, **labels: Any) -> float:
    return samples[(name, tuple(sorted((k, str(v)) for k, v in labels.items())))]


@pytest.mark.slow
def test_the_replays_fence_families_are_exact(fenced: Path) -> None:
    got = samples_of((fenced / "metrics.txt").read_text())
    # As of the last fix (T0 + 300 s): the overdue robotaxi is inside, the shuttle has left.
    assert of(got, "pilotzone_fence_vehicles_inside", **TAXI) == 1
    assert of(got, "pilotzone_fence_vehicles_inside", **SHUTTLE) == 0
    assert of(got, "pilotzone_fences_in_force", pilot_zone=ZONE) == 1
    # Time to exit: the robotaxi left 60 s after the fence took effect, the shuttle 90 s after it entered.
    buckets = ["5.0", "15.0", "30.0", "60.0", "90.0", "120.0", "180.0", "300.0", "600.0", "+Inf"]
    taxi = [of(got, "pilotzone_fence_exit_seconds_bucket", **TAXI, le=le) for le in buckets]
    shuttle = [of(got, "pilotzone_fence_exit_seconds_bucket", **SHUTTLE, le=le) for le in buckets]
    assert taxi == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert shuttle == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert of(got, "pilotzone_fence_exit_seconds_count", **TAXI) == 1
    assert of(got, "pilotzone_fence_exit_seconds_sum", **TAXI) == 60.0
    assert of(got, "pilotzone_fence_exit_seconds_sum", **SHUTTLE) == 90.0
    families = {name for name, _ in fence_samples(got)}
    assert len(fence_samples(got)) == 2 + 1 + 2 * (len(buckets) + 2)
    assert {
        name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name in families
    } == set(FENCE_FAMILIES)
    # The incidents are the tracker's, unchanged: the overdue robotaxi (open) and the shuttle's entry.
    fence_incidents = sorted(
        (row["vehicle_id"], row["start_time"], row["end_time"])
        for row in read_jsonl(fenced / "incidents.jsonl")
        if row["kind"] == "emergency_fence"
    )
    assert fence_incidents == [
        ("veh-enters", rfc3339_ms(T0_MS + 210_000), rfc3339_ms(T0_MS + 300_000)),
        ("veh-stays", rfc3339_ms(FENCE_START_MS + 120_000), None),
    ]


@pytest.mark.slow
def test_no_vehicle_identity_in_the_fence_families(fenced: Path) -> None:
    text = (fenced / "metrics.txt").read_text()
    assert "veh-" not in text


def test_a_run_without_fences_exports_no_fence_family(tmp_path: Path) -> None:
    telemetry, _ = write_scenario(tmp_path)
    got = samples_of((replay(tmp_path, telemetry) / "metrics.txt").read_text())
    assert fence_samples(got) == {}


def history_values(text: str, name: str, **labels: str) -> list[float]:
    """The values of one series of a history file, in time order."""
    wanted = {**labels, "job": "pilotzone-history"}
    found = []
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, value, _ = line[len(name) + 1 :].rsplit(" ", 2)
        pairs = dict(part.split("=", 1) for part in label_text.rstrip("}").split(","))
        if {k: v.strip('"') for k, v in pairs.items()} == wanted:
            found.append(float(value))
    return found


@pytest.mark.slow
def test_the_history_has_the_fence_families_at_each_window_end(fenced: Path) -> None:
    text = (fenced.parent / "history.om").read_text()
    # Window ends T0, T0+60 s ... T0+360 s; the fence takes effect at T0+60 s.
    assert history_values(text, "pilotzone_fences_in_force", pilot_zone=ZONE) == [0, 1, 1, 1, 1, 1, 1]
    assert history_values(text, "pilotzone_fence_vehicles_inside", **TAXI) == [0, 2, 1, 1, 1, 1, 1]
    assert history_values(text, "pilotzone_fence_vehicles_inside", **SHUTTLE) == [0, 0, 0, 0, 1, 0, 0]
    # An exit counts at the end of its window: the robotaxi's (at T0+120 s) from T0+180 s.
    assert history_values(text, "pilotzone_fence_exit_seconds_count", **TAXI) == [0, 0, 0, 1, 1, 1, 1]
    assert history_values(text, "pilotzone_fence_exit_seconds_bucket", **SHUTTLE, le="90.0") == [
        0,
        0,
        0,
        0,
        0,
        0,
        1,
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_promtool_accepts_the_fence_exposition_and_history(fenced: Path, tmp_path: Path) -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

    parsed = list(parse_openmetrics((fenced / "metrics.txt").read_text()))
    classic = generate_latest(registry_of(SnapshotCollector(parsed)))
    checked = subprocess.run(
        [executable("promtool"), "check", "metrics"],
        check=False,
        input=classic,
        capture_output=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    blocks = subprocess.run(
        [executable("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(fenced.parent / "history.om"),
         str(tmp_path / "data")],
        check=False, capture_output=True, timeout=120,
    )  # fmt: skip
    assert blocks.returncode == 0, blocks.stdout.decode() + blocks.stderr.decode()


# -- the exporter alone, on hand-built figures ----------------------------------------------


def test_the_exporter_labels_fences_by_permit_and_counts_at_the_time_reached(
    every_kind_zones: list[Zone],
) -> None:
    terms = FenceTerms(ZONE, "fire-1", "sha256:1", FENCE_START_MS, FENCE_START_MS + 600_000)
    other = FenceTerms(ZONE, "flood-2", "sha256:2", FENCE_START_MS + 900_000, FENCE_START_MS + 999_000)
    figures = FenceFigures()
    for observation in (
        terms,
        other,
        FenceSpan("v1", ZONE, "fire-1", "sha256:1", "ROBOTAXI", "op-taxi", FENCE_START_MS, None),
        FenceSpan("v2", ZONE, "fire-1", "sha256:1", "ROBOTAXI", "op-taxi", FENCE_START_MS, FENCE_START_MS + 4_000, True),
        # Two forged operator ids share the one label of operators without a permit.
        FenceSpan("v3", ZONE, "fire-1", "sha256:1", "ROBOTAXI", "forged-1", FENCE_START_MS + 1_000, None),
        FenceSpan("v4", ZONE, "fire-1", "sha256:1", "ROBOTAXI", "x" * 1000, FENCE_START_MS, FENCE_START_MS + 200_000, True),
        FenceProgress(FENCE_START_MS + 300_000),
    ):  # fmt: skip
        figures.add(observation)
    families = pipeline_families(every_kind_zones, PipelineFigures([], [], {}, figures), 0.0)
    got = fence_samples(samples_of(generate_latest(registry_of(SnapshotCollector(families))).decode()))
    unpermitted = {**TAXI, "operator": "unpermitted"}
    assert of(got, "pilotzone_fence_vehicles_inside", **TAXI) == 1
    assert of(got, "pilotzone_fence_vehicles_inside", **unpermitted) == 1
    assert of(got, "pilotzone_fences_in_force", pilot_zone=ZONE) == 1
    assert of(got, "pilotzone_fence_exit_seconds_bucket", **TAXI, le="5.0") == 1
    assert of(got, "pilotzone_fence_exit_seconds_bucket", **unpermitted, le="180.0") == 0
    assert of(got, "pilotzone_fence_exit_seconds_bucket", **unpermitted, le="300.0") == 1
    assert of(got, "pilotzone_fence_exit_seconds_sum", **unpermitted) == 200.0
    assert len(got) == 2 + 1 + 2 * 12
    # Past the first fence's end and into the second's, nobody is inside any more.
    figures.add(FenceProgress(FENCE_START_MS + 950_000))
    families = pipeline_families(every_kind_zones, PipelineFigures([], [], {}, figures), 0.0)
    got = fence_samples(samples_of(generate_latest(registry_of(SnapshotCollector(families))).decode()))
    assert of(got, "pilotzone_fence_vehicles_inside", **TAXI) == 0
    assert of(got, "pilotzone_fences_in_force", pilot_zone=ZONE) == 1


# -- the history backfilled into a real Prometheus: the dashboard's fence panels ------------


@pytest.mark.integration
@pytest.mark.slow
def test_the_fence_panels_over_the_replayed_period(fenced: Path, tmp_path: Path) -> None:
    run_tool(
        "promtool",
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        fenced.parent / "history.om",
        tmp_path / "blocks",
    )
    (tmp_path / "server").mkdir()
    (tmp_path / "blocks").rename(tmp_path / "server" / "data")
    at = (T0_MS + 360_000) / 1000
    queries = {
        q.panel_title: q.expr
        for q in concrete_queries(pilot_zone=ZONE, interval="1m", time_range="360s")
        if q.dashboard_uid == "pilotzone-overview"
    }
    config = {"global": {"scrape_interval": "15s"}, "scrape_configs": []}
    with prometheus(tmp_path / "server", config, retention="3650d") as url:
        wait_for(lambda: query_at(url, "count(pilotzone_fences_in_force)", at), 30, "the backfilled blocks")
        fence = (("fence", "fire-1"), ("pilot_zone", ZONE))
        assert query_at(url, queries["Vehicles inside an emergency fence"], at) == {fence: 1.0}
        assert query_at(url, queries["Emergency fences in force"], at) == {(("pilot_zone", ZONE),): 1.0}
        # Exits of 60 s and 90 s: the median is the 60 s bucket's top, the 90th percentile 84 s
        # (interpolated in the 60-90 s bucket).
        time_to_leave = "Time to leave an emergency fence in the selected range"
        answers = [query_at(url, expr, at) for expr in _targets(queries, time_to_leave)]
        assert answers == [{fence: 60.0}, {fence: 84.0}]
        slower = query_at(url, queries["Fence exits slower than 2 minutes in the selected range"], at)
        assert slower == {fence: 0.0}


def _targets(queries: dict[str, str], title: str) -> list[str]:
    """Every target of one overview panel (``queries`` keeps one per title)."""
    return [
        q.expr
        for q in concrete_queries(pilot_zone=ZONE, interval="1m", time_range="360s")
        if q.dashboard_uid == "pilotzone-overview" and q.panel_title == title
    ]
