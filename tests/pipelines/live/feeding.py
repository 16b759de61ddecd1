"""Feeding a simulated fleet to a live monitor in real time, as the vehicles would upload it."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pilotzone.pipelines.jobs import latest
from pilotzone.pipelines.jobs.report import read_jsonl


def slices(simulation: Path) -> list[tuple[dt.datetime, list[Path]]]:
    """The simulation's upload slices in time order: (slice start, its files)."""
    found: dict[dt.datetime, list[Path]] = {}
    for path in sorted((simulation / "telemetry").glob("*/*/*.avro")):
        start = dt.datetime.strptime(path.parent.name, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        found.setdefault(start, []).append(path)
    return sorted(found.items())


def upload(path: Path, folder: Path, name: str) -> None:
    """Write-then-rename, the upload convention: the watched glob never sees a partial file."""
    partial = folder / (name + ".part")
    partial.write_bytes(path.read_bytes())
    os.replace(partial, folder / name)


def feed_in_real_time(
    simulation: Path, folder: Path, slice_s: float, *, between: Callable[[], None] = lambda: None
) -> float:
    """Upload each slice once its last second has passed on the wall clock; return when done.

    ``between`` runs after each slice (tests use it to watch the monitor's outputs appear).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for start, files in slices(simulation):
        due = start.timestamp() + slice_s + 0.2
        while time.time() < due:
            time.sleep(min(0.2, max(0.0, due - time.time())))
        for path in files:
            upload(path, folder, f"{path.parent.name}-{path.name}")
        between()
    return time.time()


def rows_in(folder: Path) -> list[dict[str, Any]]:
    """Every row of every JSON Lines file in ``folder`` (a stream's output files)."""
    return [row for path in sorted(folder.glob("*.jsonl")) for row in read_jsonl(path)]


def latest_summaries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest emission per summary key (each supersedes the previous), in a stable order."""
    return sorted(latest.latest_summaries(rows), key=json.dumps)
