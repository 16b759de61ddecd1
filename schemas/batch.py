"""Telemetry as typed columns: the form every check and rule works on.

Records leave fastavro as dicts; they are turned into numpy columns once, here, so that the
checks, the geometry and the rule evaluation run vectorised and never look up string keys
per sample. Enumerations become small integer codes in the order of the schema's symbols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.contract import TELEMETRY, schema_dict


def _enum_symbols(schema: dict[str, Any], enum_name: str) -> tuple[str, ...]:
    """Symbols of a named enum anywhere in a schema (so codes follow the .avsc, not a copy)."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "enum" and node.get("name") == enum_name:
                return tuple(node["symbols"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise KeyError(f"enum {enum_name} not in schema")


_SCHEMA = schema_dict(TELEMETRY)
VEHICLE_CLASSES: tuple[str, ...] = _enum_symbols(_SCHEMA, "VehicleClass")
DRIVING_MODES: tuple[str, ...] = _enum_symbols(_SCHEMA, "DrivingMode")
EVENT_KINDS: tuple[str, ...] = _enum_symbols(_SCHEMA, "VehicleEventKind")
INITIATORS: tuple[str, ...] = _enum_symbols(_SCHEMA, "EventInitiator")

_CLASS_CODE = {symbol: code for code, symbol in enumerate(VEHICLE_CLASSES)}
_MODE_CODE = {symbol: code for code, symbol in enumerate(DRIVING_MODES)}
_EVENT_CODE = {symbol: code for code, symbol in enumerate(EVENT_KINDS)}
_INITIATOR_CODE = {symbol: code for code, symbol in enumerate(INITIATORS)}

NO_LEVEL = -1
"""``autonomy_level`` and ``event_initiator`` value for a null in the record."""


@dataclass
class TelemetryBatch:
    """A batch of telemetry samples, one numpy array per field, all the same length.

    Events are stored sparsely: ``event_row[i]`` is the sample the i-th event belongs to.
    ``record_index`` is each sample's position in its source, for tracing a finding back.
    """

    vehicle_id: npt.NDArray[np.object_]
    operator_id: npt.NDArray[np.object_]
    vehicle_class: npt.NDArray[np.int8]
    sequence_number: npt.NDArray[np.int64]
    time_ms: npt.NDArray[np.int64]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    altitude: npt.NDArray[np.float64]
    has_altitude: npt.NDArray[np.bool_]
    heading: npt.NDArray[np.float64]
    accuracy: npt.NDArray[np.float64]
    speed_kmh: npt.NDArray[np.float64]
    driving_mode: npt.NDArray[np.int8]
    autonomy_level: npt.NDArray[np.int8]
    record_index: npt.NDArray[np.int64]
    event_row: npt.NDArray[np.int32]
    event_kind: npt.NDArray[np.int8]
    event_initiator: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.time_ms)

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]], first_index: int = 0) -> TelemetryBatch:
        """Columns from reader-schema records with integer-millisecond timestamps."""
        n = len(records)
        altitudes = [r["current_location_altitude"] for r in records]
        levels = [r["active_autonomy_level"] for r in records]
        event_rows: list[int] = []
        event_kinds: list[int] = []
        event_initiators: list[int] = []
        for row, record in enumerate(records):
            for event in record["events"]:
                event_rows.append(row)
                event_kinds.append(_EVENT_CODE[event["kind"]])
                initiator = event["initiated_by"]
                event_initiators.append(NO_LEVEL if initiator is None else _INITIATOR_CODE[initiator])
        return cls(
            vehicle_id=np.array([r["vehicle_id"] for r in records], dtype=object),
            operator_id=np.array([r["operator_id"] for r in records], dtype=object),
            vehicle_class=np.fromiter((_CLASS_CODE[r["vehicle_class"]] for r in records), np.int8, n),
            sequence_number=np.fromiter((r["sequence_number"] for r in records), np.int64, n),
            time_ms=np.fromiter((r["current_location_timestamp"] for r in records), np.int64, n),
            latitude=np.fromiter((r["current_location_latitude"] for r in records), np.float64, n),
            longitude=np.fromiter((r["current_location_longitude"] for r in records), np.float64, n),
            altitude=np.fromiter((np.nan if a is None else a for a in altitudes), np.float64, n),
            has_altitude=np.fromiter((a is not None for a in altitudes), np.bool_, n),
            heading=np.fromiter((r["current_location_heading"] for r in records), np.float64, n),
            accuracy=np.fromiter((r["current_location_horizontal_accuracy"] for r in records), np.float64, n),
            speed_kmh=np.fromiter((r["speed"] for r in records), np.float64, n),
            driving_mode=np.fromiter((_MODE_CODE[r["driving_mode"]] for r in records), np.int8, n),
            autonomy_level=np.fromiter((NO_LEVEL if v is None else v for v in levels), np.int8, n),
            record_index=np.arange(first_index, first_index + n, dtype=np.int64),
            event_row=np.array(event_rows, dtype=np.int32),
            event_kind=np.array(event_kinds, dtype=np.int8),
            event_initiator=np.array(event_initiators, dtype=np.int8),
        )

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> TelemetryBatch:
        """A new batch with the selected samples (an index array or a mask), events following them."""
        index = np.flatnonzero(rows) if rows.dtype == np.bool_ else np.asarray(rows, dtype=np.intp)
        new_position = np.full(len(self), -1, dtype=np.int64)
        new_position[index] = np.arange(len(index))
        kept = new_position[self.event_row] >= 0 if len(self.event_row) else np.zeros(0, dtype=np.bool_)
        per_sample = {
            f.name: getattr(self, f.name)[index] for f in fields(self) if not f.name.startswith("event_")
        }
        # Events follow their sample; when rows are reordered, keep events in sample order.
        event_positions = new_position[self.event_row[kept]]
        order = np.argsort(event_positions, kind="stable")
        return TelemetryBatch(
            **per_sample,
            event_row=event_positions[order].astype(np.int32),
            event_kind=self.event_kind[kept][order],
            event_initiator=self.event_initiator[kept][order],
        )

    @classmethod
    def concat(cls, batches: Sequence[TelemetryBatch]) -> TelemetryBatch:
        """One batch holding all samples of ``batches`` in order."""
        if not batches:
            return cls.from_records([])
        offsets = np.cumsum([0] + [len(b) for b in batches[:-1]])
        merged: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "event_row":
                merged[f.name] = np.concatenate(
                    [b.event_row.astype(np.int64) + off for b, off in zip(batches, offsets, strict=True)]
                ).astype(np.int32)
            else:
                merged[f.name] = np.concatenate([getattr(b, f.name) for b in batches])
        return cls(**merged)
