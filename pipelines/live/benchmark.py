"""The live benchmark: a fleet published in real time to Kafka, the monitor on Prism keeping up.

    python -m pilotzone.pipelines.benchmark --live --vehicles 2000 --duration 120

It offers ``vehicles`` samples per second (every vehicle at 1 Hz, every rule kind of the
shipped Gwangju zone in force, violations injected) for ``duration`` seconds and measures, in
the same run:

* **offered** events/s: what the publisher delivered to the broker per second (the baseline);
* **sustained** events/s: samples the monitor evaluated per second of wall time (from the first
  window's start until its last summary was written), read from the 10-second window summaries
  it emits while the fleet drives; the ratio sustained/offered approaches 1.0 for long runs when
  the monitor keeps up (the fixed wait of allowed lateness plus one window lowers it);
* **summary lag**: how long after a window's end its summary appeared (allowed lateness
  included): flat when the monitor keeps up, growing when it falls behind;
* **incident latency**: from the publication of the sample that opened an incident to its
  OPENED record on the incidents topic, p50/p95/max.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pilotzone.pipelines.jobs.latest import latest_summaries
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.demo import (
    LATENESS_S,
    SETUP_S,
    LiveDemoSettings,
    latency_report,
    live_run,
    percentile,
)
from pilotzone.pipelines.live.publish import PublishSettings, publish_fleet
from pilotzone.pipelines.metrics.export import parse_rfc3339_ms

WINDOW_S = 10


def summaries_seen(folder: Path, seen: dict[str, float]) -> None:
    """Note the wall time each summary window was first written (files appear whole, by rename)."""
    for path in folder.glob("*.jsonl"):
        for row in read_jsonl(path):
            seen.setdefault(row["window_start"], path.stat().st_mtime)


def run(vehicles: int, duration_s: float, work: Path) -> dict[str, Any]:
    """One live run; its figures."""
    from pilotzone.pipelines.simulator import SimulationOptions, simulate
    from pilotzone.zones import SHIPPED_CONFIGS, load_zones

    config = SHIPPED_CONFIGS / "gwangju.yaml"
    start = int(time.time() + SETUP_S + vehicles / 400)  # simulating takes time too
    simulation = work / "simulation"
    simulate(
        load_zones([config]),
        SimulationOptions(
            vehicles=vehicles, duration_s=duration_s, rate_hz=1.0, seed=1, workers=2,
            start=dt.datetime.fromtimestamp(start, dt.UTC),
        ),
        simulation,
    )  # fmt: skip
    settings = LiveDemoSettings(config, vehicles, duration_s, 1, work)
    seen: dict[str, float] = {}
    with live_run(settings, lambda _row: None, ["--window", str(WINDOW_S)]) as live:
        time.sleep(max(0.0, start - time.time()))
        report = publish_fleet(
            simulation, live.broker.bootstrap, PublishSettings("telemetry", record_send_times=True)
        )
        deadline = time.time() + LATENESS_S + 3 * WINDOW_S
        while time.time() < deadline:
            summaries_seen(work / "live" / "summaries", seen)
            time.sleep(1)
        live.stop()
    recorder = live.recorder
    rows = [
        row
        for folder in [work / "live" / "summaries"]
        for p in folder.glob("*.jsonl")
        for row in read_jsonl(p)
    ]
    evaluated = sum(row["samples"] for row in latest_summaries(rows))
    lags = [seen[w] - (parse_rfc3339_ms(w) / 1000 + WINDOW_S) for w in sorted(seen)]
    first_seen, last_seen = min(seen.values(), default=0.0), max(seen.values(), default=0.0)
    windows = len(seen)
    # Samples evaluated per second of wall time, from the first window's start to the moment the
    # last of them was summarised: below the offered rate by the fixed lateness and window wait.
    first_start = min((parse_rfc3339_ms(w) / 1000 for w in seen), default=0.0)
    sustained = evaluated / max(1e-9, last_seen - first_start) if windows else 0.0
    return {
        "vehicles": vehicles,
        "duration_s": duration_s,
        "offered_events_per_s": round(report.delivered / max(1e-9, report.elapsed_s), 1),
        "published": report.delivered,
        "evaluated_in_closed_windows": evaluated,
        "sustained_events_per_s": round(sustained, 1),
        "summary_lag_s": {
            "first": round(lags[0], 1) if lags else None,
            "p50": None if not lags else round(percentile(lags, 0.5) or 0.0, 1),
            "last": round(lags[-1], 1) if lags else None,
            "max": round(max(lags), 1) if lags else None,
        },
        "summaries_written_s": round(last_seen - first_seen, 1),
        "incident_latency_s": latency_report(recorder.arrived, report)["latency_s"],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the live benchmark for each fleet size and print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live", action="store_true", help="(the mode; accepted for symmetry)")
    parser.add_argument("--vehicles", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--duration", type=float, default=90.0, metavar="SECONDS")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.workdir is not None:
        # The replay benchmark makes its --workdir; this one does too, rather than a traceback.
        args.workdir.mkdir(parents=True, exist_ok=True)
    for vehicles in args.vehicles:
        work = Path(tempfile.mkdtemp(prefix=f"live-bench-{vehicles}-", dir=args.workdir))
        figures = run(vehicles, args.duration, work)
        ratio = figures["sustained_events_per_s"] / max(1e-9, figures["offered_events_per_s"])
        print(json.dumps(figures))
        print(
            f"{vehicles} vehicles: offered {figures['offered_events_per_s']:,.0f} events/s, sustained "
            f"{figures['sustained_events_per_s']:,.0f} events/s (ratio {ratio:.2f}); summary lag "
            f"{figures['summary_lag_s']}; incident latency {figures['incident_latency_s']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
