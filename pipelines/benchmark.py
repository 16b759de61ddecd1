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

``--fleet-scale 10000x3600`` measures the large run instead: that many vehicles for that many
seconds at 1 Hz, written by the bulk fleet writer (``simulator.bulk``: already in the
compacted layout, cached in ``--workdir`` and not timed, because the simulator would take
hours), replayed once (usually ``--runner direct-multiprocess --workers 2``). It prints
events/s and wall time, the peak of the *sum* of the resident memory of the replay's whole
process tree (workers included, sampled from ``/proc``), and bare fastavro decoding of a
sample of the same files (``--baseline-parts``) in the same run, for the ratio.
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
from pilotzone.pipelines.proctree import TreePeak
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
    """Counters, replay seconds, the replay process's getrusage peak RSS in MiB (which can be
    inherited from this process: callers sample ``proctree.TreePeak`` instead), its spill buckets, the
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


def fleet_scale(text: str) -> tuple[int, int]:
    """``VEHICLESxSECONDS`` as two positive integers (argparse type)."""
    vehicles, sep, seconds = text.lower().partition("x")
    if not sep or not vehicles.isdigit() or not seconds.isdigit() or int(vehicles) < 1 or int(seconds) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: write VEHICLESxSECONDS, for example 10000x3600")
    return int(vehicles), int(seconds)


def large_run(args: argparse.Namespace, zone_path: Path) -> int:
    """The ``--fleet-scale`` run (module docstring); prints its figures."""
    from pilotzone.pipelines.simulator.bulk import BulkFleetOptions, write_bulk_fleet

    vehicles, seconds = args.fleet_scale
    folder: Path = args.workdir / f"bulk-{vehicles}x{seconds}-seed{args.seed}"
    started = time.perf_counter()
    try:
        fleet = write_bulk_fleet(
            zone_path, BulkFleetOptions(vehicles, seconds, args.seed, workers=args.sim_workers), folder
        )
    except ValueError as error:
        print(f"benchmark: --fleet-scale {vehicles}x{seconds}: {error}", file=sys.stderr)
        return 2
    parts = [folder / name for name in fleet.parts]
    size = sum(part.stat().st_size for part in parts)
    print(
        f"bulk fleet: {vehicles:,} vehicles x {seconds:,} s, {fleet.records:,} records in {len(parts)} parts "
        f"({size / 2**20:,.0f} MiB), ready in {time.perf_counter() - started:.1f} s (cached, not timed); "
        f"injected {fleet.injected}"
    )
    sample = parts[: max(1, args.baseline_parts)]
    records, decode_s = bare_decode_rate(sample)
    decode_rate = records / decode_s
    with TreePeak(os.getpid()) as tree:
        counters, replay_s, _own_peak_mib, buckets, profile, _replay_cpu = replay_in_child(
            zone_path,
            str(folder / "*.avro"),
            args.workdir / f"out-bulk-{vehicles}x{seconds}",
            args.runner,
            args.spill_buckets,
            workers=args.workers,
            profile=args.profile,
        )
    read = counters.get("records_read", 0)
    rate = read / replay_s
    grouping = "in memory" if buckets <= 1 else f"on disk in {buckets} buckets"
    print(
        f"[large] baseline: fastavro decoded {records:,} records of {len(sample)} part(s) in {decode_s:.1f} s"
    )
    print(
        f"[large] replay:   {read:,} records through the pipeline in {replay_s:.1f} s "
        f"({args.runner} runner, {args.workers} workers, grouped {grouping})"
    )
    print(
        f"[large] events/s: {rate:,.0f}   fastavro decode/s: {decode_rate:,.0f}   ratio: {rate / decode_rate:.2f}"
    )
    print(
        f"[large] peak RSS of the replay's process tree: {tree.bytes / 2**20:,.0f} MiB "
        f"(sum over up to {tree.processes} processes; its largest process alone {tree.largest / 2**20:,.0f} MiB)"
    )
    print(
        f"[large] CPU time of the replay's process tree: {tree.cpu_s:,.0f} s (user + system), "
        f"{read / max(tree.cpu_s, 1e-9):,.0f} events per CPU-second; load average when done: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if profile:
        print(f"[large] where the main process's time goes (cProfile):\n{profile}")
    return 0


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
    parser.add_argument(
        "--fleet-scale",
        type=fleet_scale,
        default=None,
        metavar="VEHICLESxSECONDS",
        help="the large run instead (10000x3600: 36M samples) from the bulk fleet writer",
    )
    parser.add_argument(
        "--baseline-parts",
        type=int,
        default=1,
        metavar="N",
        help="parts fastavro decodes for the large run's baseline (1)",
    )
    args = parser.parse_args(argv)

    work: Path = args.workdir
    zone_path = benchmark_zone(work / "zone", args.areas, args.seed)
    if args.fleet_scale is not None:
        return large_run(args, zone_path)
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
        # Sampled from the tree, as for the large run: the child's own getrusage high-water mark
        # can be this process's, inherited across the spawn's exec.
        with TreePeak(os.getpid()) as tree:
            counters, replay_s, _own_peak_mib, buckets, profile, replay_cpu = replay_in_child(
                zone_path,
                pattern,
                out,
                args.runner,
                args.spill_buckets,
                workers=args.workers,
                profile=args.profile and name == "uploads",
            )
        replay_peak_mib = tree.largest / 2**20
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
