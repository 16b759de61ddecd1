"""Tracks as telemetry records, ground-truth lines and Avro container files, one per vehicle
per time slice, byte-identical for a seed."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import numpy as np

from pilotzone.pipelines.simulator.planning import Task
from pilotzone.pipelines.simulator.profiles import MODES
from pilotzone.pipelines.simulator.track import Finding, Identity, Track
from pilotzone.pipelines.simulator.zone_model import ZoneModel
from pilotzone.schemas.contract import TELEMETRY, writer_schema
from pilotzone.zones.evaluate import rfc3339_ms

# The layout of a simulation folder (the manifest spells it out for its readers).
GROUND_TRUTH_FILE = "ground_truth.jsonl"
MANIFEST_FILE = "manifest.json"
TELEMETRY_DIR = "telemetry"
SLICE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass
class Record:
    """One Avro-ready sample with the time it was due (slices follow the due time, not the reported one)."""

    nominal_ms: int
    value: dict[str, Any]


def to_records(track: Track) -> list[Record]:
    """One Avro-ready dict per sent sample, in the order the vehicle sends them."""
    rows = np.flatnonzero(track.sent)
    identity = track.identity
    t = track.t_ms[rows].tolist()
    seq = (track.sequence0 + rows).tolist()
    lat = track.lat[rows].tolist()
    lon = track.lon[rows].tolist()
    alt_values = track.altitude[rows]
    alt = [None if math.isnan(a) else a for a in alt_values.tolist()]
    heading = track.heading[rows].tolist()
    accuracy = track.accuracy[rows].tolist()
    speed = track.speed_kmh[rows].tolist()
    modes = track.mode[rows].tolist()
    no_events: list[dict[str, Any]] = []
    events = {
        k: [{"kind": kind, "initiated_by": by} for kind, by in reported]
        for k, reported in track.events.items()
    }
    row_list = rows.tolist()
    out = []
    for i, row in enumerate(row_list):
        mode = MODES[modes[i]]
        out.append(
            Record(
                t[i],
                {
                    "vehicle_id": identity.vehicle_id,
                    "operator_id": identity.operator_id,
                    "vehicle_class": identity.vehicle_class,
                    "sequence_number": seq[i],
                    "current_location_timestamp": t[i],
                    "current_location_latitude": lat[i],
                    "current_location_longitude": lon[i],
                    "current_location_altitude": alt[i],
                    "current_location_heading": heading[i],
                    "current_location_horizontal_accuracy": accuracy[i],
                    "speed": speed[i],
                    "driving_mode": mode,
                    "active_autonomy_level": 4 if mode == "AUTONOMOUS" else None,
                    "events": events.get(row, no_events),
                },
            )
        )
    return out


def ground_truth_line(model: ZoneModel, identity: Identity, finding: Finding) -> str:
    """One finding as a compact JSON line of ``ground_truth.jsonl``."""
    line = {
        "vehicle_id": identity.vehicle_id,
        "operator_id": identity.operator_id,
        "vehicle_class": identity.vehicle_class,
        "pilot_zone": model.zone.zone_id,
        "rule_kind": finding.kind,
        "rule_id": finding.rule_id,
        "area": finding.area,
        "start_time": rfc3339_ms(finding.start_ms),
        "end_time": rfc3339_ms(finding.end_ms),
        "detail": finding.detail,
    }
    return json.dumps(line, allow_nan=False, separators=(",", ":"))


def write_files(
    model: ZoneModel, task: Task, vehicle_id: str, records: list[Record], out: Path
) -> tuple[int, int, set[int], int]:
    """One container file per slice the vehicle sent samples in; returns files, bytes, slices, samples."""
    options = model.options
    slice_ms = options.slice_s * 1000
    schema = writer_schema(TELEMETRY)
    files = 0
    size = 0
    slices: set[int] = set()
    start = 0
    zone_dir = out / TELEMETRY_DIR / model.zone.zone_id
    while start < len(records):
        slice_start = records[start].nominal_ms // slice_ms * slice_ms
        end = start
        while end < len(records) and records[end].nominal_ms < slice_start + slice_ms:
            end += 1
        name = dt.datetime.fromtimestamp(slice_start / 1000, dt.UTC).strftime(SLICE_FORMAT)
        folder = zone_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        marker = hashlib.sha256(
            f"pilotzone-simulate:{options.seed}:{model.zone.zone_id}:{task.index}:{slice_start}".encode()
        ).digest()[:16]
        buffer = io.BytesIO()
        fastavro.writer(
            buffer, schema, [r.value for r in records[start:end]], codec=options.codec, sync_marker=marker
        )
        data = buffer.getvalue()
        (folder / f"{vehicle_id}.avro").write_bytes(data)
        files += 1
        size += len(data)
        slices.add(slice_start)
        start = end
    return files, size, slices, len(records)
