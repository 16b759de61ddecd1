"""Replay throughput against bare fastavro decoding of the same files, in one run.

    python -m pipelines.benchmark --vehicles 2000 --duration 600

1. Builds a benchmark zone: the shipped Gwangju zone plus ``--areas`` small pick-up bays, each
   with an area-scoped dwell rule, so the spatial index and rule precedence work on a
   realistic number of sub-areas.
2. Simulates a fleet there with violations of every rule kind injected.
3. Measures the baseline: fastavro reading every record of every file, nothing else.
4. Replays the same files through the whole compliance pipeline (decode, contract checks,
   zones, rules, summaries, incident log) on the in-process runner.

It prints both rates and their ratio, and the peak resident memory of the process.
Absolute rates depend on the machine; the ratio is what to compare between versions.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import shapely
import yaml

from zones.loader import load_zones

SHIPPED = Path(__file__).resolve().parent.parent / "zones" / "configs" / "gwangju.yaml"


def benchmark_zone(folder: Path, areas: int, seed: int) -> Path:
    """Write the shipped Gwangju config plus ``areas`` bays with a dwell rule; return its path."""
    (zone,) = load_zones([SHIPPED])
    config: dict[str, Any] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    boundary = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(zone.boundary)}
    (folder / "boundary.geojson").write_text(json.dumps(boundary), encoding="utf-8")
    config["boundary"] = {"file": "boundary.geojson"}
    for area in config["areas"]:
        area["geometry"] = shapely.geometry.mapping(zone.areas[area["id"]].geometry)
    rng = np.random.default_rng(seed)
    inner = zone.boundary.buffer(-0.01)
    min_x, min_y, max_x, max_y = inner.bounds
    bays: list[dict[str, Any]] = []
    while len(bays) < areas:
        x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
        if inner.contains(shapely.Point(x, y)):
            half = 0.0008  # about 70 m by 90 m
            square = shapely.box(x - half, y - half, x + half, y + half)
            bays.append(
                {
                    "id": f"bay-{len(bays):04d}",
                    "name": f"Pick-up bay {len(bays)}",
                    "kind": "pickup_dropoff",
                    "geometry": shapely.geometry.mapping(square),
                }
            )
    config["areas"].extend(bays)
    config["rules"].append(
        {
            "id": "bay-dwell",
            "kind": "dwell",
            "severity": "MINOR",
            "max_dwell_s": 900,
            "applies": {"areas": [bay["id"] for bay in bays]},
        }
    )
    path = folder / "benchmark-zone.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def bare_decode_rate(files: list[Path]) -> tuple[int, float]:
    """Records in ``files`` and seconds fastavro alone takes to read them all."""
    started = time.perf_counter()
    records = 0
    for path in files:
        with path.open("rb") as stream:
            for _ in fastavro.reader(stream):
                records += 1
    return records, time.perf_counter() - started


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    from pipelines.replay import ReplayOutputs, ReplaySettings, run_replay
    from pipelines.simulate import SimulationOptions, simulate

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=600, metavar="SECONDS")
    parser.add_argument("--areas", type=int, default=1000, help="extra sub-areas (1000)")
    parser.add_argument("--workdir", type=Path, default=Path("benchmark-work"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sim-workers", type=int, default=2, help="processes for the simulation (2)")
    parser.add_argument("--runner", default="direct", choices=["direct", "direct-multiprocess"])
    args = parser.parse_args(argv)

    work: Path = args.workdir
    zone_path = benchmark_zone(work / "zone", args.areas, args.seed)
    telemetry = work / f"sim-{args.vehicles}x{int(args.duration)}-seed{args.seed}"
    if not (telemetry / "manifest.json").exists():
        print(f"simulating {args.vehicles} vehicles x {args.duration:g} s ...", file=sys.stderr)
        simulate(
            load_zones([zone_path]),
            SimulationOptions(
                vehicles=args.vehicles,
                duration_s=args.duration,
                rate_hz=1.0,
                seed=args.seed,
                workers=args.sim_workers,
            ),
            telemetry,
        )
    files = sorted((telemetry / "telemetry").rglob("*.avro"))
    records, decode_s = bare_decode_rate(files)
    decode_rate = records / decode_s
    print(f"baseline: fastavro decoded {records} records from {len(files)} files in {decode_s:.1f} s")

    zones = load_zones([zone_path])
    started = time.perf_counter()
    counters = run_replay(
        zones,
        str(telemetry / "telemetry" / "**" / "*.avro"),
        ReplayOutputs(
            incidents_jsonl=work / "out" / "incidents.jsonl",
            dead_letter_jsonl=work / "out" / "dead-letters.jsonl",
            summaries_jsonl=work / "out" / "summaries.jsonl",
        ),
        ReplaySettings(runner=args.runner, progress=False),
    )
    replay_s = time.perf_counter() - started
    read = counters.get("records_read", 0)
    replay_rate = read / replay_s
    print(f"replay:   {read} records through the pipeline in {replay_s:.1f} s ({args.runner} runner)")
    print(
        f"events/s: {replay_rate:,.0f}   fastavro decode/s: {decode_rate:,.0f}   ratio: {replay_rate / decode_rate:.2f}"
    )
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB   sub-areas: {len(zones[0].areas)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
