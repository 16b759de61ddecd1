"""``pilotzone demo --live``: a simulated fleet drives through a real broker into the live monitor.

One command shows the whole live path on one machine: a local KRaft broker, the fleet's
telemetry published in real time (Confluent-framed Avro, keyed by vehicle, record timestamps =
event times), ``pilotzone stream`` on Prism reading it with KafkaIO and writing incident
lifecycle records to an incidents topic, which this command prints as they arrive. It then
stops the monitor (SIGTERM), replays the same telemetry for comparison and leaves in the output
folder:

* ``incidents.jsonl``: the final state of every incident that reached the topic;
* ``replay/``: the replay of the same telemetry (incident log, summaries, dead letters);
* ``latency.json``: per incident, the event time of the sample that opened it, when that
  sample was published and when its OPENED record reached the topic, with p50/p95/max;
* ``live/``: the monitor's own output files, and ``simulation/`` the fleet.

The monitor runs as a child process because Beam's portable runners install signal handlers,
which only the main thread of a process may do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.broker import KafkaBroker
from pilotzone.pipelines.live.publish import PublishReport, PublishSettings, publish_fleet
from pilotzone.pipelines.metrics.export import parse_rfc3339_ms
from pilotzone.zones.evaluate import STATUSES

SETUP_S = 25
"""Seconds between now and the fleet's first sample: time for the monitor to start."""
LATENESS_S = 10
"""The monitor's allowed lateness here: a live feed on one machine arrives within a second or two."""


@dataclasses.dataclass(frozen=True)
class LiveDemoSettings:
    """What the live demo runs: which zone file, how many vehicles, how long, where."""

    zone_config: Path
    vehicles: int
    duration_s: float
    seed: int
    out: Path
    runner: str = "prism"


class IncidentRecorder(threading.Thread):
    """Reads the incidents topic from its start, noting when each record arrived."""

    def __init__(self, bootstrap: str, topic: str, on_record: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(name="incident-recorder", daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"pilotzone-demo-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
            }
        )
        self.consumer.subscribe([topic])
        self.on_record = on_record
        self.arrived: list[tuple[float, dict[str, Any]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                for message in self.consumer.consume(num_messages=500, timeout=0.5):
                    value = message.value()
                    if message.error() is not None or value is None:
                        continue
                    row = json.loads(value)
                    self.arrived.append((time.time(), row))
                    self.on_record(row)
        finally:
            self.consumer.close()


def final_states(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest lifecycle record of each incident (without ``status``): the incident log's rows.

    Later in lifecycle wins, then the higher peak (an incident's peak only grows), then the later
    arrival: the UPDATED record that ends an open incident's figures at its last fix has the
    highest peak, and comes after the others of its vehicle.
    """
    final: dict[str, dict[str, Any]] = {}

    def progress(row: dict[str, Any]) -> tuple[int, float]:
        return STATUSES.index(row["status"]), row["peak_value"] or 0.0

    for row in rows:
        known = final.get(row["incident_id"])
        if known is None or progress(row) >= progress(known):
            final[row["incident_id"]] = row
    return {key: {k: v for k, v in row.items() if k != "status"} for key, row in final.items()}


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def latency_report(arrived: list[tuple[float, dict[str, Any]]], report: PublishReport) -> dict[str, Any]:
    """Per incident: event time of its opening sample, when it was published, when OPENED arrived."""
    incidents = []
    send_times = report.send_times or {}
    for at, row in arrived:
        if row["status"] != "OPENED":
            continue
        event_ms = parse_rfc3339_ms(row["start_time"])
        sent = send_times.get((row["vehicle_id"], event_ms))
        incidents.append(
            {
                "incident_id": row["incident_id"],
                "kind": row["kind"],
                "rule_id": row["rule_id"],
                "event_time": row["start_time"],
                "published_at": sent,
                "opened_on_topic_at": at,
                "latency_s": None if sent is None else round(at - sent, 3),
            }
        )
    latencies = [i["latency_s"] for i in incidents if i["latency_s"] is not None]
    return {
        "incidents": incidents,
        "latency_s": {
            "count": len(latencies),
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies, default=None),
        },
    }


def monitor_command(settings: LiveDemoSettings, bootstrap: str) -> list[str]:
    """``pilotzone stream`` reading the telemetry topic and writing the incidents topic."""
    return [
        sys.executable, "-m", "pilotzone.pipelines.cli", "stream", "--quiet",
        "--zones", str(settings.zone_config), "--runner", settings.runner,
        "--allowed-lateness", str(LATENESS_S), "--source", "kafka", "--kafka-bootstrap", bootstrap,
        "--kafka-topic", "telemetry", "--incidents-topic", "incidents",
        "--incidents-dir", str(settings.out / "live"),
    ]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class LiveRun:
    """A running live setup: the broker, the incidents topic's recorder and the monitor process."""

    broker: KafkaBroker
    recorder: IncidentRecorder
    monitor: subprocess.Popen[bytes]

    def stop(self) -> int:
        """SIGTERM the monitor (it cancels its job) and wait for it; its exit status."""
        self.monitor.send_signal(signal.SIGTERM)
        return self.monitor.wait(timeout=60)


@contextlib.contextmanager
def live_run(
    settings: LiveDemoSettings, on_record: Callable[[dict[str, Any]], None], extra_args: Sequence[str] = ()
) -> Iterator[LiveRun]:
    """A broker with the telemetry and incidents topics, a recorder of incidents and the monitor.

    On the way out, whatever happened, the monitor is killed if still running, the recorder
    stopped and the broker shut down: nothing started here outlives it.
    """
    with KafkaBroker(data_dir=settings.out / "broker") as broker:
        broker.create_topic("telemetry")
        broker.create_topic("incidents", compacted=True)
        recorder = IncidentRecorder(broker.bootstrap, "incidents", on_record)
        recorder.start()
        with (settings.out / "monitor.log").open("w", encoding="utf-8") as log:
            command = [*monitor_command(settings, broker.bootstrap), *extra_args]
            monitor = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            try:
                yield LiveRun(broker, recorder, monitor)
            finally:
                if monitor.poll() is None:
                    monitor.kill()
                    monitor.wait(timeout=10)
                recorder.done.set()
                recorder.join(timeout=10)


def run_live_demo(settings: LiveDemoSettings, say: Callable[[str], None] = print) -> int:
    """Run the live demo; the monitor's exit status (0 when it ran and stopped cleanly)."""
    from pilotzone.pipelines.simulator import SimulationOptions, simulate
    from pilotzone.zones import load_zones

    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    zones = load_zones([settings.zone_config])
    start = time.time() + SETUP_S
    simulation = out / "simulation"
    if simulation.exists():
        raise ValueError(f"{simulation} exists: give an empty --out for a live demo (its fleet starts now)")
    simulate(
        zones,
        SimulationOptions(
            vehicles=settings.vehicles,
            duration_s=settings.duration_s,
            rate_hz=1.0,
            seed=settings.seed,
            start=dt.datetime.fromtimestamp(int(start), dt.UTC),
        ),
        simulation,
    )

    def show(row: dict[str, Any]) -> None:
        say(f"{row['status']:8} {row['kind']:16} {row['rule_id']:24} {row['vehicle_id']} {row['start_time']}")

    with live_run(settings, show) as run:
        say(f"broker on {run.broker.bootstrap}; the monitor starts on {settings.runner}")
        # Publishing starts at the fleet's first event time: the monitor has had SETUP_S to
        # start, and each sample then leaves when it happens, as from a real vehicle.
        time.sleep(max(0.0, int(start) - time.time()))
        say(f"publishing {settings.vehicles} vehicles for {settings.duration_s:g} s in real time")
        report = publish_fleet(
            simulation,
            run.broker.bootstrap,
            PublishSettings("telemetry", speed_up=1.0, record_send_times=True),
        )
        say(report.summary())
        time.sleep(LATENESS_S + 4)  # the last samples pass the allowed lateness
        status = run.stop()
    recorder = run.recorder
    rows = [row for _, row in recorder.arrived]
    lines = [
        json.dumps(row, ensure_ascii=False) for row in sorted(final_states(rows).values(), key=json.dumps)
    ]
    (out / "incidents.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (out / "latency.json").write_text(json.dumps(latency_report(recorder.arrived, report), indent=2) + "\n")
    replay = replay_for_comparison(settings, simulation)
    live = final_states(rows)
    closed = [key for key, row in replay.items() if row["end_time"] is not None]
    same = sum(live.get(key) == replay[key] for key in closed)
    say(f"replay of the same telemetry: {len(replay)} incidents, {len(closed)} closed; the live run ended "
        f"{same} of those {len(closed)} in the same state; still open at the stop: {len(replay) - len(closed)}")  # fmt: skip
    say(
        f"latency (publish to OPENED on the topic): {json.dumps(latency_report(recorder.arrived, report)['latency_s'])}"
    )
    return status


def replay_for_comparison(settings: LiveDemoSettings, simulation: Path) -> dict[str, dict[str, Any]]:
    """Replay the fleet's files with the monitor's settings; its incident log by id."""
    replay = settings.out / "replay"
    command = [
        sys.executable, "-m", "pilotzone.pipelines.cli", "run", "--quiet", "--zones", str(settings.zone_config),
        "--allowed-lateness", str(LATENESS_S), "--input", str(simulation / "telemetry" / "*" / "*" / "*.avro"),
        "--incidents", str(replay / "incidents.jsonl"),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    return {row["incident_id"]: row for row in read_jsonl(replay / "incidents.jsonl")}
