"""Contract records encoded into Avro container blocks with numpy, whole columns at a time.

fastavro writes one Python dict per record, which caps a writer at a few hundred thousand
records per second: an hour of 10,000 vehicles (36M records) would take longer to write than
to replay. The Avro binary encoding of the contract is simple enough to build with array
operations instead: every field becomes a small byte matrix (one row per record) with the
number of bytes each row really uses, the matrices are laid side by side and a mask keeps the
used bytes of every row, in row-major order, which is exactly the records one after the other.

What the fields encode to (Avro 1.11 specification, binary encoding):

* ``long`` and ``int``: zig-zag, then a little-endian base-128 varint (1 to 10 bytes);
* ``string``: its byte length as a long, then the UTF-8 bytes;
* ``enum``: the symbol's index as an int;
* ``double``/``float``: 8/4 bytes little-endian IEEE 754;
* a union: the branch index as an int, then the branch's value (``null`` is nothing);
* an array: item count as a long, the items, then a zero count (the empty array is one 0).

The header is fastavro's own (``writer_schema``), so the files carry the contract's writer
schema byte for byte and every reader, the columnar fast path included, takes them as the
contract's.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import fastavro
import numpy as np
import numpy.typing as npt

from pilotzone.schemas.contract import TELEMETRY, writer_schema

ByteMatrix = npt.NDArray[np.uint8]
Lengths = npt.NDArray[np.int64]

DEFLATE_LEVEL = 6
"""zlib's default level, the one fastavro's deflate codec uses."""


def varints(values: npt.ArrayLike) -> tuple[ByteMatrix, Lengths]:
    """Zig-zag varints of int64 values: a (n, width) byte matrix and each row's length."""
    signed = np.asarray(values, dtype=np.int64)
    zigzag = ((signed << 1) ^ (signed >> 63)).view(np.uint64)
    lengths = np.ones(len(signed), dtype=np.int64)
    columns = []
    rest = zigzag.copy()
    for _ in range(10):
        low = (rest & np.uint64(0x7F)).astype(np.uint8)
        rest >>= np.uint64(7)
        more = rest != 0
        columns.append(low | (more.astype(np.uint8) << 7))
        if not more.any():
            break
        lengths += more
    return np.stack(columns, axis=1), lengths


def fixed(values: npt.ArrayLike, dtype: str) -> ByteMatrix:
    """Little-endian IEEE 754 bytes of each value (``dtype`` ``'<f8'`` or ``'<f4'``)."""
    array = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    return array.view(np.uint8).reshape(len(array), -1)


def strings(texts: Sequence[str]) -> tuple[ByteMatrix, Lengths]:
    """A table of encoded strings (length prefix and UTF-8 bytes), one row per text; callers
    index it with each record's code."""
    encoded = [text.encode("utf-8") for text in texts]
    prefix, prefix_lengths = varints([len(data) for data in encoded])
    lengths = prefix_lengths + np.array([len(data) for data in encoded], dtype=np.int64)
    table = np.zeros((len(encoded), int(lengths.max(initial=1))), dtype=np.uint8)
    for row, data in enumerate(encoded):
        used = int(prefix_lengths[row])
        table[row, :used] = prefix[row, :used]
        table[row, used : used + len(data)] = np.frombuffer(data, dtype=np.uint8)
    return table, lengths


@dataclass(frozen=True)
class Columns:
    """One value per record for every contract field, as codes and numbers.

    ``vehicle`` and ``operator`` index ``vehicle_ids`` and ``operator_ids``; enums are symbol
    indexes of the contract's enums; ``altitude`` NaN and ``level`` -1 encode null; ``event``
    -1 is no event, otherwise the record carries one event of that kind, initiated by
    ``initiator``.
    """

    vehicle: npt.NDArray[np.int64]
    operator: npt.NDArray[np.int64]
    vehicle_class: npt.NDArray[np.int64]
    sequence: npt.NDArray[np.int64]
    time_ms: npt.NDArray[np.int64]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    altitude: npt.NDArray[np.float64]
    heading: npt.NDArray[np.float32]
    accuracy: npt.NDArray[np.float32]
    speed_kmh: npt.NDArray[np.float32]
    mode: npt.NDArray[np.int64]
    level: npt.NDArray[np.int64]
    event: npt.NDArray[np.int64]
    initiator: npt.NDArray[np.int64]


def encode_records(
    columns: Columns, vehicle_ids: Sequence[str], operator_ids: Sequence[str]
) -> tuple[bytes, Lengths]:
    """Every record's Avro binary encoding, concatenated, and each record's length in bytes."""
    n = len(columns.time_ms)
    pieces: list[tuple[ByteMatrix, Lengths | None]] = []
    vehicle_table, vehicle_lengths = strings(vehicle_ids)
    pieces.append((vehicle_table[columns.vehicle], vehicle_lengths[columns.vehicle]))
    operator_table, operator_lengths = strings(operator_ids)
    pieces.append((operator_table[columns.operator], operator_lengths[columns.operator]))
    pieces.append(varints(columns.vehicle_class))
    pieces.append(varints(columns.sequence))
    pieces.append(varints(columns.time_ms))
    pieces.append((fixed(columns.latitude, "<f8"), None))
    pieces.append((fixed(columns.longitude, "<f8"), None))
    has_altitude = ~np.isnan(columns.altitude)
    altitude = np.concatenate(
        [has_altitude.astype(np.uint8)[:, None] * 2, fixed(np.nan_to_num(columns.altitude), "<f8")], axis=1
    )
    pieces.append((altitude, np.where(has_altitude, 9, 1).astype(np.int64)))
    pieces.append((fixed(columns.heading, "<f4"), None))
    pieces.append((fixed(columns.accuracy, "<f4"), None))
    pieces.append((fixed(columns.speed_kmh, "<f4"), None))
    pieces.append(varints(columns.mode))
    has_level = columns.level >= 0
    level_bytes, level_lengths = varints(np.maximum(columns.level, 0))
    level = np.concatenate([has_level.astype(np.uint8)[:, None] * 2, level_bytes], axis=1)
    pieces.append((level, np.where(has_level, 1 + level_lengths, 1)))
    has_event = columns.event >= 0
    # One item: count 1 (0x02), kind, initiator union branch 1 (0x02) and its symbol, end 0.
    events = np.zeros((n, 5), dtype=np.uint8)
    events[:, 0] = 2
    events[:, 1] = np.maximum(columns.event, 0) * 2
    events[:, 2] = 2
    events[:, 3] = np.maximum(columns.initiator, 0) * 2
    events[~has_event, 0] = 0
    pieces.append((events, np.where(has_event, 5, 1).astype(np.int64)))

    matrix = np.concatenate([piece for piece, _ in pieces], axis=1)
    masks = []
    for piece, lengths in pieces:
        width = piece.shape[1]
        if lengths is None:
            masks.append(np.ones((n, width), dtype=bool))
        else:
            masks.append(np.arange(width)[None, :] < lengths[:, None])
    mask = np.concatenate(masks, axis=1)
    return matrix[mask].tobytes(), mask.sum(axis=1).astype(np.int64)


def container_header(sync: bytes, codec: str = "deflate") -> bytes:
    """The header fastavro writes for the contract's writer schema, with this sync marker."""
    buffer = io.BytesIO()
    fastavro.writer(buffer, writer_schema(TELEMETRY), [], codec=codec, sync_marker=sync)
    return buffer.getvalue()


def framed_block(records: bytes, count: int, sync: bytes) -> bytes:
    """One deflate container block: record count, compressed size, data, sync marker."""
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    data = compressor.compress(records) + compressor.flush()
    head, head_lengths = varints([count, len(data)])
    prefix = b"".join(head[row, : head_lengths[row]].tobytes() for row in range(2))
    return prefix + data + sync
