"""Telemetry as typed columns: the form every check and rule works on.

Records leave fastavro as dicts; they are turned into numpy columns once, here, so that the
checks, the geometry and the rule evaluation run vectorised and never look up string keys
per sample. Enumerations become small integer codes in the order of the schema's symbols.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from pilotzone.schemas.contract import TELEMETRY, schema_dict


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

INVALID_LEVEL = 127
"""``autonomy_level`` for a sent value outside the SAE levels 0..5 (any int, not only int8's
range, may arrive; the record checks refuse this code)."""

_SAE_LEVELS = range(6)

_RECORD_FIELDS = tuple(field["name"] for field in _SCHEMA["fields"])
"""The record's fields in the ``.avsc``'s order: the order ``from_records`` transposes them in."""
_RECORD_GETTER = itemgetter(*_RECORD_FIELDS)

_FORMAT_VERSION = 1
_HEADER = struct.Struct("<BQQ")
_COUNT = struct.Struct("<I")


def _object_array(values: tuple[Any, ...]) -> npt.NDArray[np.object_]:
    """A 1-D object array of ``values`` (``np.array`` alone would make a fixed-width str array)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _dictionary_codes(column: npt.NDArray[np.object_]) -> tuple[list[str], npt.NDArray[np.uint32]]:
    """The distinct values of an id column in order of first appearance, and each row's code.

    Python's own comparisons, never numpy's string types: numpy turns a str into a fixed-width
    str that drops trailing NULs, so "veh-b\x00" would equal "veh-b" and lose bytes. Ids come
    in long runs (a vehicle's samples, an operator's vehicles), so only the first value of
    each run is looked up in the dictionary; equal neighbours are found by an element-wise
    comparison of the object array, which calls ``str.__ne__`` in C.
    """
    size = len(column)
    if size == 0:
        return [], np.zeros(0, dtype="<u4")
    starts = np.concatenate([[0], np.flatnonzero(column[1:] != column[:-1]) + 1])
    index: dict[str, int] = {}
    run_codes = np.fromiter(
        (index.setdefault(v, len(index)) for v in column[starts].tolist()), dtype="<u4", count=len(starts)
    )
    codes: npt.NDArray[np.uint32] = np.repeat(run_codes, np.diff(np.concatenate([starts, [size]])))
    return list(index), codes


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
        """Columns from reader-schema records with integer-millisecond timestamps.

        The records are transposed once with one ``itemgetter`` (one pass at C speed), and
        each column is then converted as a whole; this is about three times faster than one
        generator per column, and it runs for every sample of a replay.
        """
        n = len(records)
        if n == 0:
            columns: list[tuple[Any, ...]] = [()] * len(_RECORD_FIELDS)
        else:
            columns = list(zip(*map(_RECORD_GETTER, records), strict=True))
        column = dict(zip(_RECORD_FIELDS, columns, strict=True))
        vehicle_ids = column["vehicle_id"]
        operator_ids = column["operator_id"]
        classes = column["vehicle_class"]
        sequence_numbers = column["sequence_number"]
        times = column["current_location_timestamp"]
        latitudes = column["current_location_latitude"]
        longitudes = column["current_location_longitude"]
        altitudes = column["current_location_altitude"]
        headings = column["current_location_heading"]
        accuracies = column["current_location_horizontal_accuracy"]
        speeds = column["speed"]
        modes = column["driving_mode"]
        levels = column["active_autonomy_level"]
        events = column["events"]
        event_rows: list[int] = []
        event_kinds: list[int] = []
        event_initiators: list[int] = []
        if any(events):
            for row, sample_events in enumerate(events):
                for event in sample_events:
                    event_rows.append(row)
                    event_kinds.append(_EVENT_CODE[event["kind"]])
                    initiator = event["initiated_by"]
                    event_initiators.append(NO_LEVEL if initiator is None else _INITIATOR_CODE[initiator])
        has_altitude = np.fromiter((a is not None for a in altitudes), np.bool_, n)
        if not has_altitude.all():
            altitudes = tuple(np.nan if a is None else a for a in altitudes)
        if None in levels:
            levels = tuple(
                NO_LEVEL if v is None else v if v in _SAE_LEVELS else INVALID_LEVEL for v in levels
            )
        elif n and (min(levels) < 0 or max(levels) > 5):
            levels = tuple(v if v in _SAE_LEVELS else INVALID_LEVEL for v in levels)
        return cls(
            vehicle_id=_object_array(vehicle_ids),
            operator_id=_object_array(operator_ids),
            vehicle_class=np.array([_CLASS_CODE[c] for c in classes], dtype=np.int8),
            sequence_number=np.array(sequence_numbers, dtype=np.int64),
            time_ms=np.array(times, dtype=np.int64),
            latitude=np.array(latitudes, dtype=np.float64),
            longitude=np.array(longitudes, dtype=np.float64),
            altitude=np.array(altitudes, dtype=np.float64),
            has_altitude=has_altitude,
            heading=np.array(headings, dtype=np.float64),
            accuracy=np.array(accuracies, dtype=np.float64),
            speed_kmh=np.array(speeds, dtype=np.float64),
            driving_mode=np.array([_MODE_CODE[m] for m in modes], dtype=np.int8),
            autonomy_level=np.array(levels, dtype=np.int8),
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

    def span(self, start: int, end: int, copy: bool = True) -> TelemetryBatch:
        """A new batch with the consecutive samples ``start:end``, events following them.

        What ``take(np.arange(start, end))`` gives, without the index arrays over the whole
        batch that ``take`` builds: cutting a large sorted batch into many vehicles' series
        then costs in proportion to each series, not to the batch. ``copy=False``: the
        per-sample columns are views of this batch's (for a batch that is cut and then only
        read, as one about to be encoded).
        """
        per_sample = {
            f.name: getattr(self, f.name)[start:end].copy() if copy else getattr(self, f.name)[start:end]
            for f in fields(self)
            if not f.name.startswith("event_")
        }
        kept = (self.event_row >= start) & (self.event_row < end)
        event_positions = self.event_row[kept].astype(np.int64) - start
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

    def to_bytes(self) -> bytes:
        """A compact binary form of the batch, for moving it between processes or to disk.

        Numeric columns are written as their raw little-endian buffers and the two id columns
        as a dictionary (usually one vehicle and one operator per batch) plus codes, so a
        batch costs about 80 bytes per sample and no per-value pickling. ``from_bytes`` reads
        it back exactly, values and dtypes.
        """
        parts: list[bytes] = [_HEADER.pack(_FORMAT_VERSION, len(self), len(self.event_row))]
        columns = vars(self)
        for name, dtype in _COLUMN_DTYPES.items():
            column = columns[name]
            if dtype.kind != "O":
                parts.append(column.astype(_WIRE_DTYPES[name], copy=False).tobytes())
                continue
            values, codes = _dictionary_codes(column)
            parts.append(_COUNT.pack(len(values)))
            for value in values:
                encoded = str(value).encode("utf-8", "surrogatepass")
                parts.append(_COUNT.pack(len(encoded)) + encoded)
            if len(values) > 1:  # one value needs no codes: from_bytes repeats it
                parts.append(codes.tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> TelemetryBatch:
        """The batch ``to_bytes`` wrote (columns are fresh, writable arrays)."""
        version, size, events = _HEADER.unpack_from(data, 0)
        if version != _FORMAT_VERSION:
            raise ValueError(f"telemetry batch format {version} is not {_FORMAT_VERSION}")
        buffer = bytearray(data)
        position = _HEADER.size
        columns: dict[str, Any] = {}
        for name, dtype in _COLUMN_DTYPES.items():
            length = events if name in _EVENT_COLUMNS else size
            if dtype.kind != "O":
                column = np.frombuffer(buffer, dtype=_WIRE_DTYPES[name], count=length, offset=position)
                position += column.nbytes
                columns[name] = column.astype(dtype, copy=False)
                continue
            (count,) = _COUNT.unpack_from(buffer, position)
            position += _COUNT.size
            values: list[str] = []
            for _ in range(count):
                (width,) = _COUNT.unpack_from(buffer, position)
                position += _COUNT.size
                values.append(buffer[position : position + width].decode("utf-8", "surrogatepass"))
                position += width
            column = np.empty(length, dtype=object)
            if count == 1:
                column[:] = values[0]
            elif count > 1:
                codes = np.frombuffer(buffer, dtype="<u4", count=length, offset=position)
                position += codes.nbytes
                column[:] = _object_array(tuple(values))[codes]
            columns[name] = column
        return cls(**columns)


_COLUMN_DTYPES: dict[str, np.dtype[Any]] = {
    f.name: getattr(TelemetryBatch.from_records([]), f.name).dtype for f in fields(TelemetryBatch)
}
"""Each column's dtype, in field order: the layout ``to_bytes`` writes."""
_WIRE_DTYPES = {name: dtype.newbyteorder("<") for name, dtype in _COLUMN_DTYPES.items()}
_EVENT_COLUMNS = frozenset(name for name in _COLUMN_DTYPES if name.startswith("event_"))
