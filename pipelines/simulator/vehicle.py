"""One vehicle from start to end: generated, checked by the oracle, retried until right, written."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pilotzone.pipelines.simulator.defects import apply_defects
from pilotzone.pipelines.simulator.driving import generate
from pilotzone.pipelines.simulator.injection import NoPlaceError
from pilotzone.pipelines.simulator.oracle import evaluate
from pilotzone.pipelines.simulator.planning import Task, zone_key
from pilotzone.pipelines.simulator.track import Finding, Track
from pilotzone.pipelines.simulator.writer import ground_truth_line, to_records, write_files
from pilotzone.pipelines.simulator.zone_model import ZoneModel

MAX_ATTEMPTS = 8
"""Attempts at a vehicle before the last one is written as it came out; kinds that have not
come out by half of them are given up."""


@dataclass
class VehicleResult:
    """What one vehicle produced, small enough to send back from a worker process."""

    ground_truth: list[str]
    samples: int
    files: int
    bytes: int
    slices: set[int]
    vehicle_class: str
    injected: list[str]
    failed: dict[str, str]
    incidental: int
    defects: int
    zone_pos: int
    by_kind: Counter[str]


def simulate_vehicle(model: ZoneModel, task: Task, out: Path) -> VehicleResult:
    """Generate, check and write one vehicle; retry from its own random stream until it is right.

    Right means: the findings are exactly the wanted kinds (none for a baseline vehicle) and
    none is too close to call. A kind that never comes out in half the attempts is given up
    (and reported); if no attempt is right, the last one is written with its true findings.
    """
    options = model.options
    rng = np.random.default_rng([options.seed, zone_key(model.zone.zone_id), task.index])
    digest = hashlib.sha256(f"{options.seed}:{model.zone.zone_id}:{task.index}".encode()).hexdigest()
    vehicle_id = "veh-" + digest[:10]
    wanted = list(task.kinds)
    failed: dict[str, str] = {}
    seen: set[str] = set()
    track: Track | None = None
    findings: list[Finding] = []
    attempt = 0
    while attempt < MAX_ATTEMPTS or track is None:
        if attempt == MAX_ATTEMPTS // 2:
            for kind in [k for k in wanted if k not in seen]:
                failed.setdefault(kind, "no clear violation came out in several attempts")
                wanted.remove(kind)
        if attempt >= 3 * MAX_ATTEMPTS:
            raise RuntimeError(f"vehicle {task.index} of zone {model.zone.zone_id}: no usable track")
        attempt += 1
        try:
            track, plan_failures = generate(model, rng, vehicle_id, wanted)
        except NoPlaceError as exc:
            if exc.kind in wanted and attempt >= 3:
                failed.setdefault(exc.kind, exc.reason)
                wanted.remove(exc.kind)
            continue
        for kind, reason in plan_failures:
            failed.setdefault(kind, reason)
            wanted.remove(kind)
        findings, ambiguous = evaluate(model, track)
        kinds_found = {f.kind for f in findings}
        seen |= kinds_found
        if not ambiguous and kinds_found == set(wanted):
            break
    kinds_found = {f.kind for f in findings}
    injected = [k for k in wanted if k in kinds_found]
    for kind in wanted:
        if kind not in kinds_found:
            failed.setdefault(kind, "no clear violation came out in several attempts")
    incidental = sum(1 for f in findings if f.kind not in wanted)
    defects: list[Finding] = []
    records = to_records(track)
    if task.defect:
        defects = apply_defects(track, records, rng, findings)
    all_findings = sorted([*findings, *defects], key=lambda f: (f.start_ms, f.kind, f.rule_id, f.end_ms))
    lines = [ground_truth_line(model, track.identity, f) for f in all_findings]
    files, size, slices, samples = write_files(model, task, track.identity.vehicle_id, records, out)
    return VehicleResult(
        ground_truth=lines,
        samples=samples,
        files=files,
        bytes=size,
        slices=slices,
        vehicle_class=track.identity.vehicle_class,
        injected=injected,
        failed=failed,
        incidental=incidental,
        defects=len(defects),
        zone_pos=task.zone_pos,
        by_kind=Counter(f.kind for f in all_findings),
    )
