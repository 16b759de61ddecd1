"""Replay throughput against bare fastavro decoding of the same files, in one run.

    python -m pilotzone.pipelines.benchmark --vehicles 2000 --duration 600

1. Builds a benchmark zone: the shipped Gwangju zone plus ``--areas`` small pick-up bays, each
   with an area-scoped dwell rule, so the spatial index and rule precedence work on a
   realistic number of sub-areas.
2. Simulates a fleet there with violations of every rule kind injected.
3. For each layout -- (a) the uploads as vehicles send them (one small file per vehicle per
   minute) and (b) the same uploads merged by ``pilotzone compact`` -- measures the baseline,
   fastavro reading every record of every file and nothing else, then replays the same files
   through the whole compliance pipeline (decode, contract checks, zones, rules, summaries,
   incident log) on the in-process runner, and checks both layouts give the same incidents.

It prints each layout's rates and their ratio, and the peak resident memory of the replay
alone: each replay runs in a child process of its own (the simulation and the baseline would
otherwise count), which reports its own peak. Absolute rates depend on the machine; the ratio
is what to compare between versions. ``--profile`` also profiles the replay of the uploads
(cProfile, in the child) and prints where its time goes. ``--spill-buckets`` chooses how the replay groups by vehicle
(in memory with 1; on disk in N buckets; by default as ``pilotzone run`` decides from the
input's size), which is what keeps the peak bounded for large inputs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import resource
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import shapely
import yaml

from pilotzone.pipelines.compaction import compact
from pilotzone.zones import SHIPPED_CONFIGS, load_zones

SHIPPED = SHIPPED_CONFIGS / "gwangju.yaml"


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
    """Records in ``files`` and seconds fastavro alone takes to read them all.

    The files are read once untimed first, so the baseline and the replay after it both find
    them in the page cache: otherwise whichever runs first pays the disk, which on a busy
    machine costs more than decoding 20,000 small uploads.
    """
    for path in files:
        path.read_bytes()
    started = time.perf_counter()
    records = 0
    for path in files:
        with path.open("rb") as stream:
            for _ in fastavro.reader(stream):
                records += 1
    return records, time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished child processes.

    On a machine shared with other work the wall clock counts the time spent waiting for a
    core; CPU time does not, so the ratio of CPU times is the steadier comparison.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mib() -> float:
    """Peak resident memory of this process or of the largest of its finished child processes
    (the workers of ``direct-multiprocess``); Linux reports kB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _replay_child(
    zone_path: Path,
    pattern: str,
    out: Path,
    *,
    runner: str,
    workers: int,
    buckets: int | None,
    profile: bool,
    results: Connection,
) -> None:
    """The replay, in a fresh process: its counters, seconds, the process's own peak RSS and,
    if asked, the profile's summary."""
    from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings, run_replay, spill_buckets

    zones = load_zones([zone_path])
    settings = ReplaySettings(runner=runner, workers=workers, progress=False, spill_buckets=buckets)
    chosen = spill_buckets(pattern, settings)
    profiler = cProfile.Profile() if profile else None
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    counters = run_replay(
        zones,
        pattern,
        ReplayOutputs(
            incidents_jsonl=out / "incidents.jsonl",
            dead_letter_jsonl=out / "dead-letters.jsonl",
            summaries_jsonl=out / "summaries.jsonl",
        ),
        settings,
    )
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_started
    summary = ""
    if profiler is not None:
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(
            os.environ.get("PILOTZONE_PROFILE_SORT", "tottime")
        ).print_stats(int(os.environ.get("PILOTZONE_PROFILE_LINES", "25")))
        summary = text.getvalue()
    results.send((counters, seconds, peak_rss_mib(), chosen, summary, cpu))
    results.close()


def replay_in_child(
    zone_path: Path,
    pattern: str,
    out: Path,
    runner: str,
    buckets: int | None,
    *,
    workers: int = 1,
    profile: bool = False,
) -> tuple[dict[str, int], float, float, int, str, float]:
    """Counters, replay seconds, the replay process's peak RSS in MiB, its spill buckets, the
    profile's summary (empty unless ``profile``) and the replay's CPU seconds (its workers'
    included)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_replay_child,
        args=(zone_path, pattern, out),
        kwargs={
            "runner": runner,
            "workers": workers,
            "buckets": buckets,
            "profile": profile,
            "results": send,
        },
    )
    child.start()
    send.close()
    try:
        result: tuple[dict[str, int], float, float, int, str, float] = receive.recv()
    except EOFError:
        child.join()
        raise RuntimeError(f"the replay process failed (exit code {child.exitcode})") from None
    child.join()
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures (``--live``: the live benchmark, see ``live.benchmark``;
    ``--fence-latency``: publish-to-enforcement latency of fences, see ``live.fence_latency``)."""
    if "--live" in (sys.argv[1:] if argv is None else argv):
        from pilotzone.pipelines.live import benchmark as live

        return live.main(argv)
    if "--fence-latency" in (sys.argv[1:] if argv is None else argv):
        from pilotzone.pipelines.live import fence_latency

        return fence_latency.main(argv)
    from pilotzone.pipelines.simulator import SimulationOptions, simulate

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
    parser.add_argument("--workers", type=int, default=2, help="processes of direct-multiprocess (2)")
    parser.add_argument("--profile", action="store_true", help="profile the replay of the uploads (cProfile)")
    parser.add_argument(
        "--spill-buckets",
        type=int,
        default=None,
        metavar="N",
        help="group by vehicle on disk in N buckets (1: in memory; default: by input size)",
    )
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
    uploads = telemetry / "telemetry"
    compacted = work / f"{telemetry.name}-compacted"
    started = time.perf_counter()
    merged = compact(uploads, compacted)
    print(
        f"compacted {merged.files_merged} of {merged.files_in} files into {len(merged.parts)} parts "
        f"in {time.perf_counter() - started:.1f} s"
    )
    layouts = [
        ("uploads", sorted(uploads.rglob("*.avro")), str(uploads / "**" / "*.avro"), work / "out"),
        ("compacted", sorted(compacted.glob("*.avro")), str(compacted / "*.avro"), work / "out-compacted"),
    ]
    for name, files, pattern, out in layouts:
        cpu_started = cpu_seconds()
        records, decode_s = bare_decode_rate(files)
        decode_cpu = cpu_seconds() - cpu_started
        decode_rate = records / decode_s
        counters, replay_s, replay_peak_mib, buckets, profile, replay_cpu = replay_in_child(
            zone_path,
            pattern,
            out,
            args.runner,
            args.spill_buckets,
            workers=args.workers,
            profile=args.profile and name == "uploads",
        )
        read = counters.get("records_read", 0)
        replay_rate = read / replay_s
        grouping = "in memory" if buckets <= 1 else f"on disk in {buckets} buckets"
        print(
            f"[{name}] baseline: fastavro decoded {records} records from {len(files)} files in {decode_s:.1f} s"
        )
        print(
            f"[{name}] replay:   {read} records through the pipeline in {replay_s:.1f} s ({args.runner} runner)"
        )
        print(
            f"[{name}] events/s: {replay_rate:,.0f}   fastavro decode/s: {decode_rate:,.0f}   "
            f"ratio: {replay_rate / decode_rate:.2f}"
        )
        print(
            f"[{name}] by CPU time: {read / replay_cpu:,.0f} events per CPU-second, fastavro "
            f"{records / decode_cpu:,.0f}, ratio: {decode_cpu / replay_cpu * read / records:.2f}"
        )
        print(
            f"[{name}] peak RSS of the replay (its largest process): {replay_peak_mib:,.0f} MiB ({read:,} samples, grouped {grouping})   "
            f"sub-areas: {len(load_zones([zone_path])[0].areas)}"
        )
        if profile:
            print(f"[{name}] where the replay's time goes (cProfile, top 25 by own time):\n{profile}")
    same = all(
        (work / "out" / n).read_bytes() == (work / "out-compacted" / n).read_bytes()
        for n in ("incidents.jsonl", "summaries.jsonl")
    )
    print(f"incidents and summaries of both layouts identical: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
