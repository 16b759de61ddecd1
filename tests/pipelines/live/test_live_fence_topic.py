"""Fences published to a compacted Kafka topic: the Prism stream with ``--source kafka
--fences-topic`` enforces them, an amendment included, as the replay does.

A fleet is published in real time to a real broker; once it is driving (or before the monitor
starts, as a restarted monitor finds them), the operator publishes a fence over the western
half of where the vehicles are, publishes it again (nothing new), and publishes an amendment
that moves the fence's edge east with a shorter deadline. The replay of the same telemetry with
the two documents in a folder gives the same fence incidents.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest
import yaml

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.cli.fences import published_document
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.broker import KafkaBroker
from pilotzone.pipelines.live.demo import final_states
from pilotzone.pipelines.live.publish import PublishReport, PublishSettings, publish_fleet
from pilotzone.pipelines.simulator import SimulationOptions, simulate
from pilotzone.zones import Zone
from pilotzone.zones.fences.loader import load_fence
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.live.feeding import rows_in

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fences]

DURATION_S = 90
LATENESS_S = 10
ALL_CLASSES = ["CAR", "ROBOTAXI", "SHUTTLE", "BUS", "TRUCK", "DELIVERY_ROBOT", "PARKING_ROBOT", "OTHER"]


def positions_at(simulation: Path, moment_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of every vehicle's fix in the second from ``moment_ms``."""
    lon, lat = [], []
    for path in sorted((simulation / "telemetry").rglob("*.avro")):
        with path.open("rb") as handle:
            for record in fastavro.reader(handle):
                stamp = record["current_location_timestamp"]
                at = int(stamp.timestamp() * 1000) if isinstance(stamp, dt.datetime) else int(stamp)
                if moment_ms <= at < moment_ms + 1000:
                    lon.append(record["current_location_longitude"])
                    lat.append(record["current_location_latitude"])
    return np.array(lon), np.array(lat)


def box(west: float, east: float, south: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def fence(
    polygon: dict[str, Any], effective_from: dt.datetime, until: dt.datetime, exit_s: int
) -> dict[str, Any]:
    return {
        "id": "fire-west",
        "pilot_zone": "every-kind",
        "polygon": polygon,
        "vehicle_classes": ALL_CLASSES,
        "effective_from": effective_from.isoformat(),
        "until": until.isoformat(),
        "exit_within_s": exit_s,
        "reason": "fire",
    }


def publish_fences(drafts: list[Path], url: str) -> None:
    """The first version, the same again (nothing new), then the amendment."""
    assert main(["fences", "publish", str(drafts[0]), "--to", url]) == 0
    assert main(["fences", "publish", str(drafts[0]), "--to", url]) == 0
    time.sleep(2)
    assert main(["fences", "publish", str(drafts[1]), "--to", url]) == 0


@pytest.mark.parametrize(
    "before_start", [False, True], ids=["while-the-fleet-streams", "before-the-monitor-starts"]
)
def test_fences_published_to_the_topic_are_enforced_as_the_replay(
    tmp_path: Path, every_kind_zones: list[Zone], broker: KafkaBroker, before_start: bool
) -> None:
    """Published while the fleet streams, or all before the monitor starts (as a restarted
    monitor finds them): read from the topic's beginning, they give the replay's incidents."""
    name = "before" if before_start else "while"
    broker.create_topic(f"telemetry-{name}")
    start = dt.datetime.fromtimestamp(int(time.time()) + 20, dt.UTC)
    simulation = tmp_path / "sim"
    simulate(
        every_kind_zones,
        SimulationOptions(vehicles=8, duration_s=DURATION_S, rate_hz=1.0, seed=11, start=start, slice_s=60),
        simulation,
    )
    start_ms = int(start.timestamp() * 1000)
    lon, lat = positions_at(simulation, start_ms + 25_000)
    south, north = float(lat.min()) - 0.01, float(lat.max()) + 0.01
    west = float(lon.min()) - 0.01
    # Half the fleet inside when the fence takes effect; the amendment takes in three quarters.
    first = fence(box(west, float(np.median(lon)), south, north), start + dt.timedelta(seconds=25),
                  start + dt.timedelta(seconds=80), 15)  # fmt: skip
    amended = fence(box(west, float(np.quantile(lon, 0.75)), south, north), start + dt.timedelta(seconds=50),
                    start + dt.timedelta(seconds=80), 10)  # fmt: skip
    drafts = []
    for name, document in (("first.yaml", first), ("amended.yaml", amended)):
        (tmp_path / name).write_text(yaml.safe_dump(document), encoding="utf-8")
        drafts.append(tmp_path / name)

    common = ["--zones", str(EVERY_KIND_ZONE), "--allowed-lateness", str(LATENESS_S), "--quiet"]
    command = [str(Path(sys.executable).with_name("pilotzone")), "stream", *common, "--runner", "prism",
               "--source", "kafka", "--kafka-bootstrap", broker.bootstrap, "--kafka-topic", f"telemetry-{name}",
               "--kafka-group", name, "--fences-topic", f"fences-{name}",
               "--incidents-dir", str(tmp_path / "live")]  # fmt: skip
    url = f"kafka://{broker.bootstrap}/fences-{name}"
    if before_start:
        publish_fences(drafts, url)
    monitor = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reports: list[PublishReport] = []
    fleet = threading.Thread(
        target=lambda: reports.append(
            publish_fleet(simulation, broker.bootstrap, PublishSettings(f"telemetry-{name}", speed_up=1.0))
        )
    )
    try:
        fleet.start()
        if not before_start:
            time.sleep(3)  # the fleet is driving
            publish_fences(drafts, url)
        fleet.join(timeout=DURATION_S + 60)
        # Event times run ahead of the clock by the start's 20 s: wait until the watermark has
        # passed the fences' end by the allowed lateness, so every fence incident is closed.
        ends = (start + dt.timedelta(seconds=80)).timestamp()
        time.sleep(max(LATENESS_S + 6, ends + LATENESS_S + 10 - time.time()))
        monitor.send_signal(signal.SIGTERM)
        output, _ = monitor.communicate(timeout=60)
    finally:
        monitor.kill()
        fleet.join(timeout=10)
    assert monitor.returncode == 0, output
    assert [(r.failed, r.delivered) for r in reports] == [(0, 8 * DURATION_S)]

    folder = tmp_path / "fences"
    folder.mkdir()
    for draft in drafts:
        (folder / draft.with_suffix(".json").name).write_bytes(published_document(load_fence(draft)))
    replayed = tmp_path / "replay" / "incidents.jsonl"
    assert main(["run", *common, "--input", str(simulation / "telemetry" / "**" / "*.avro"),
                 "--fences", str(folder), "--incidents", str(replayed)]) == 0  # fmt: skip
    replay = {row["incident_id"]: row for row in read_jsonl(replayed) if row["kind"] == "emergency_fence"}
    live = final_states(rows_in(tmp_path / "live" / "incidents"))
    fenced = {key: row for key, row in live.items() if row["kind"] == "emergency_fence"}
    differing = {
        key: {
            field: (row.get(field), replay[key].get(field))
            for field in row
            if row.get(field) != replay[key].get(field)
        }
        for key, row in fenced.items()
        if key in replay and row != replay[key]
    }
    assert fenced == replay, differing
    assert len(replay) == 10
    versions = {load_fence(draft).digest for draft in drafts}
    assert {row["config_version"] for row in replay.values()} == versions
    assert all(row["end_time"] is not None for row in replay.values())
