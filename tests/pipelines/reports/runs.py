"""Run folders written by hand, in the exact formats a replay and a stream write, with known figures."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ZONE = "test-every-kind"
START = "2026-11-23T01:00:00.000Z"


def summary(
    minute: int,
    operator: str,
    vehicle_class: str,
    *,
    samples: int = 600,
    vehicles: int = 10,
    vehicle_seconds: float = 590.0,
    distance: dict[str, float] | None = None,
    violations: dict[str, float] | None = None,
    incidents: dict[str, int] | None = None,
    disengagements: int = 0,
    remote_takeovers: int = 0,
    zone: str = ZONE,
    version: str | None = None,
) -> dict[str, Any]:
    """One window summary row of minute ``minute`` after 01:00 UTC (the summaries file's format;
    without ``version``, as runs wrote it before summaries named their config version)."""
    return {
        "window_start": f"2026-11-23T01:{minute:02d}:00.000Z",
        "window_end": f"2026-11-23T01:{minute + 1:02d}:00.000Z",
        "pilot_zone": zone,
        **({} if version is None else {"config_version": version}),
        "operator": operator,
        "vehicle_class": vehicle_class,
        "samples": samples,
        "active_vehicles": vehicles,
        "vehicle_seconds": vehicle_seconds,
        "distance_m_by_mode": distance or {"AUTONOMOUS": 1000.0},
        "violation_s_by_rule": violations or {},
        "incidents_opened": incidents or {},
        "disengagements": disengagements,
        "remote_takeovers": remote_takeovers,
    }


def incident(
    number: int,
    *,
    minute: int = 1,
    kind: str = "speed_limit",
    rule_id: str = "speed-zone",
    severity: str = "MINOR",
    vehicle: str | None = None,
    operator: str = "op-taxi",
    lon: float = 126.84,
    lat: float = 35.15,
    deadline: str | None = None,
    version: str,
    end: str | None = "2026-11-23T01:59:00.000Z",
) -> dict[str, Any]:
    """One incident log row (the incident log's keys, in its order)."""
    return {
        "incident_id": f"inc{number:04d}",
        "pilot_zone": ZONE,
        "area": None,
        "rule_id": rule_id,
        "kind": kind,
        "severity": severity,
        "vehicle_id": vehicle or f"veh-{number:04d}",
        "operator_id": operator,
        "start_time": f"2026-11-23T01:{minute:02d}:{number % 60:02d}.000Z",
        "end_time": end,
        "peak_value": 61.0,
        "latitude": lat,
        "longitude": lon,
        "config_version": version,
        "report_deadline": deadline,
        "explanation": f"incident number {number}",
    }


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Rows as JSON Lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def replay_folder(
    folder: Path,
    incidents: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
    dead_letters: list[dict[str, Any]] | None = None,
) -> Path:
    """A folder laid out as ``pilotzone run`` / ``demo`` leave it."""
    write_jsonl(folder / "incidents.jsonl", incidents)
    write_jsonl(folder / "summaries.jsonl", summaries)
    write_jsonl(folder / "dead-letters.jsonl", dead_letters or [])
    return folder
