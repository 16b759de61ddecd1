"""A whole run: plan every zone, simulate its vehicles in this process or in worker processes,
write the ground truth in task order and the manifest."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pilotzone.pipelines.simulator.manifest import Totals, ZoneTotals, build_manifest
from pilotzone.pipelines.simulator.options import Progress, SimulationError, SimulationOptions
from pilotzone.pipelines.simulator.planning import Task, ZonePlan, plan_zone
from pilotzone.pipelines.simulator.vehicle import VehicleResult, simulate_vehicle
from pilotzone.pipelines.simulator.writer import GROUND_TRUTH_FILE, MANIFEST_FILE, TELEMETRY_DIR
from pilotzone.pipelines.simulator.zone_model import ZoneModel
from pilotzone.zones.loader import Zone


def simulate(
    zones: Sequence[Zone],
    options: SimulationOptions,
    out_dir: str | Path,
    *,
    progress: Callable[[Progress], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Simulate ``options.vehicles`` vehicles in each zone and write files, ground truth and manifest.

    Returns the manifest. ``progress`` is called after vehicles complete (at most every ~1.5 s
    and once at the end); ``warn`` receives one line per thing that could not be done as asked
    (a rule kind that cannot be injected in a zone, injections that failed). Raises
    ``SimulationError`` before writing anything if the options or zones cannot work.
    """
    problems = options.problems()
    if not zones:
        problems.append("no zones to simulate: pass a zone config file or folder")
    if problems:
        raise SimulationError("\n".join(problems))
    out = Path(out_dir)
    if (out / MANIFEST_FILE).exists() or (out / TELEMETRY_DIR).exists():
        raise SimulationError(f"{out} already holds a simulation: choose an empty or new --out folder")
    say = warn or (lambda _message: None)
    clean_zones = [dataclasses.replace(zone) for zone in zones]
    models = [ZoneModel(zone, options) for zone in clean_zones]
    plans: list[ZonePlan] = []
    for pos, model in enumerate(models):
        plans.append(plan_zone(model, options, pos))
        for kind, reason in plans[-1].not_injectable.items():
            say(f"{model.zone.zone_id}: {kind} not injectable: {reason}")
    tasks = [task for plan in plans for task in plan.tasks]
    out.mkdir(parents=True, exist_ok=True)
    totals = Totals(zones=[ZoneTotals() for _ in zones])
    started = time.monotonic()
    last_report = started
    with (out / GROUND_TRUTH_FILE).open("w", encoding="utf-8", newline="\n") as ground_truth:
        for done, result in enumerate(run_tasks(models, options, out, tasks), start=1):
            ground_truth.writelines(line + "\n" for line in result.ground_truth)
            totals.add(result)
            now = time.monotonic()
            if progress is not None and (now - last_report >= 1.5 or done == len(tasks)):
                progress(Progress(done, len(tasks), totals.samples, now - started))
                last_report = now
    for plan, zone_totals in zip(plans, totals.zones, strict=True):
        for kind, count in sorted(zone_totals.failed.items()):
            say(
                f"{plan.model.zone.zone_id}: {kind} could not be injected in {count} of "
                f"{plan.requested.get(kind, 0)} vehicles: {'; '.join(sorted(zone_totals.failed_reasons[kind]))}"
            )
    manifest = build_manifest(options, plans, totals)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


_WORKER: dict[str, Any] = {}


def _init_worker(zones: Sequence[Zone], options: SimulationOptions, out: Path) -> None:
    """Set up a worker process: its own zone models, built from the zones as loaded."""
    _WORKER["models"] = [ZoneModel(zone, options) for zone in zones]
    _WORKER["out"] = out


def _worker_task(task: Task) -> VehicleResult:
    models: list[ZoneModel] = _WORKER["models"]
    return simulate_vehicle(models[task.zone_pos], task, _WORKER["out"])


def run_tasks(
    models: Sequence[ZoneModel], options: SimulationOptions, out: Path, tasks: Sequence[Task]
) -> Iterator[VehicleResult]:
    """Results in task order, from this process or from a pool of worker processes."""
    if options.workers == 1:
        _WORKER.update(models=list(models), out=out)
        try:
            yield from map(_worker_task, tasks)
        finally:
            _WORKER.clear()
        return
    # Spawned workers load nothing from this process but what is passed: the same on every OS.
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(8, len(tasks) // (options.workers * 4)))
    zones = [model.zone for model in models]
    with context.Pool(options.workers, initializer=_init_worker, initargs=(zones, options, out)) as pool:
        yield from pool.imap(_worker_task, tasks, chunksize=chunk)
