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
from pilotzone.pipelines.metrics.export import SnapshotCollector, registry_of
from pilotzone.pipelines.metrics.fence_metrics import FENCE_FAMILIES
from pilotzone.zones.evaluate import rfc3339_ms
from tests.factories import T0_MS, sample, write_container
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.metrics.exposition import Samples, samples_of
from tests.servers import executable

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
