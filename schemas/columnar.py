"""The columnar fast path: contract-schema container files decoded straight into columns.

The reference decoder (``pilotzone.schemas.decode``) turns every record into a Python dict,
which caps a replay at fastavro's ~250k records/s however fast the rest is. For the files that
make up nearly all of a replay -- container files whose writer schema *is* the contract's -- a
columnar Avro reader (polars-avro, built on arrow-avro) decodes whole blocks into Arrow
columns, many files per call, and the columns become a ``TelemetryBatch`` without a dict per
record. polars-avro was chosen over ``polars.read_avro`` because the latter panics on an enum
inside an array and on a nullable enum, both of which the contract has.

The fast path only ever *declines*; it never decides what is wrong with a file. A file goes
to the reference decoder instead whenever:

* its writer schema is not exactly the contract's (``is_contract_schema``, worked out once per
  distinct schema bytes, not once per file),
* its codec is one the columnar reader does not read (lz4),
* the pre-scan of its block headers (``scan_container``) finds anything the bounds of
  ``pilotzone.schemas.limits`` refuse or anything malformed: a record count or a block size out
  of bounds, a block running past the end, a wrong sync marker, trailing bytes,
* a decoded value crosses a per-record bound (events per sample, id length),
* or the columnar reader raises.

So the records, dead letters and byte offsets of every declined file are the reference
decoder's by construction, and hostile input never reaches the columnar reader unbounded.
"""

from __future__ import annotations

import bz2
import functools
import io
import json
import lzma
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from isal import isal_zlib

from pilotzone.schemas.batch import (
    DRIVING_MODES,
    EVENT_KINDS,
    INITIATORS,
    INVALID_LEVEL,
    NO_LEVEL,
    VEHICLE_CLASSES,
    TelemetryBatch,
)
from pilotzone.schemas.blocks import read_long
from pilotzone.schemas.container import encode_long
from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.decode import CONTAINER_MAGIC, HEADER_ERRORS, SYNC_SIZE, read_container_header
from pilotzone.schemas.factorize import string_codes
from pilotzone.schemas.limits import (
    MAX_BLOCK_BYTES,
    MAX_EVENTS_PER_SAMPLE,
    MAX_ID_LENGTH,
    MAX_RECORDS_PER_BLOCK,
)

COLUMNAR_CODECS = frozenset({"null", "deflate", "snappy", "zstandard", "bzip2", "xz"})
"""Codecs the columnar reader reads; files in any other (lz4) go to the reference decoder."""

_HEADER_SCAN_ERRORS: tuple[type[BaseException], ...] = (*HEADER_ERRORS, UnicodeDecodeError, RecursionError)
"""A header or schema the fast path cannot read: the reference decoder then says what is wrong."""

DEFLATE_MAX_RATIO = 1032
"""Deflate cannot expand a stream more than about 1032:1, so a deflate block this many times
smaller than ``MAX_BLOCK_BYTES`` is within the bound without being inflated."""


@dataclass(frozen=True)
class ContainerScan:
    """What the pre-scan learnt of a container file: its codec, schema and blocks.

    ``block_offsets[i]`` is where block ``i`` starts (its record count), the offset the
    reference decoder reports for that block's dead letters.
    """

    schema_json: bytes
    codec: str
    sync: bytes
    header_end: int
    block_offsets: tuple[int, ...]
    block_counts: tuple[int, ...]
    block_data: tuple[tuple[int, int], ...]
    """(start, end) of each block's (compressed) data."""

    @property
    def records(self) -> int:
        return sum(self.block_counts)


def _inflated_within_bound(codec: str, data: bytes, start: int, end: int) -> bool:
    """Whether the block ``data[start:end]`` decompresses to at most ``MAX_BLOCK_BYTES``,
    decompressing no further.

    Deflate and snappy usually answer without decompressing, or even copying the block (a
    ratio bound; snappy's length preamble); the rarer codecs are decompressed with an output
    limit, which stops a bomb.
    """
    limit = MAX_BLOCK_BYTES
    if codec == "null":
        return end - start <= limit
    if codec == "deflate" and (end - start) * DEFLATE_MAX_RATIO <= limit:
        return True
    if codec == "snappy":
        length = _read_unsigned(data, start, end)
        return length is not None and length <= limit
    block = data[start:end]
    # Decompress at most one byte past the bound: shorter output means the input ran out first.
    if codec == "deflate":
        inflated = zlib.decompressobj(-15).decompress(block, limit + 1)
    elif codec == "zstandard":
        from backports import zstd  # the package the reference decoder reads zstandard with

        inflated = zstd.ZstdDecompressor().decompress(block, limit + 1)
    elif codec == "bzip2":
        inflated = bz2.BZ2Decompressor().decompress(block, limit + 1)
    elif codec == "xz":
        inflated = lzma.LZMADecompressor().decompress(block, limit + 1)
    else:
        return False
    return len(inflated) <= limit


def _read_unsigned(data: bytes, position: int, end: int) -> int | None:
    """A plain (not zig-zag) little-endian base-128 varint before ``end``, as snappy's length
    preamble."""
    value = 0
    for shift, index in enumerate(range(position, min(position + 5, end))):
        byte = data[index]
        value |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            return value
    return None


class HeaderReader:
    """Reads container headers, parsing only a header unlike the last one it read.

    Uploads of one writer differ in their headers only by the sync marker, which ends the
    header: a file that starts with the last header's bytes before its sync marker has that
    header (the map is read from those bytes alone), so it is not parsed again. Parsing one
    cost as much as scanning the blocks of a one-minute upload.
    """

    def __init__(self) -> None:
        self.last: tuple[bytes, bytes, str] = (b"", b"", "")
        """The last header parsed: its bytes up to the sync marker, writer schema and codec."""

    def read(self, data: bytes) -> tuple[bytes, str, int] | None:
        """(writer schema, codec, end of the header) of a container file; ``None`` if unreadable."""
        prefix, schema_json, codec = self.last
        if prefix and len(data) >= len(prefix) + SYNC_SIZE and data.startswith(prefix):
            return schema_json, codec, len(prefix) + SYNC_SIZE
        try:
            header, position = read_container_header(data)
            meta = header["meta"]
            schema_json = bytes(meta["avro.schema"])
            codec = bytes(meta.get("avro.codec", b"null")).decode("ascii")
        except _HEADER_SCAN_ERRORS:
            return None
        self.last = (data[: position - SYNC_SIZE], schema_json, codec)
        return schema_json, codec, position


def scan_container(data: bytes, headers: HeaderReader | None = None) -> ContainerScan | None:
    """Walk a container file's header and block headers; ``None`` if the fast path must decline.

    Cheap next to decoding: two varints and a 16-byte comparison per block (plus a bounded
    decompression for the rare codecs). Every bound of ``pilotzone.schemas.limits`` that a
    block header can break is checked here, before any columnar reader sees the bytes.
    ``headers``: a reader kept across the files of a replay, so that equal headers are
    parsed once.
    """
    if not data.startswith(CONTAINER_MAGIC):
        return None
    header = (headers or HeaderReader()).read(data)
    if header is None:
        return None
    schema_json, codec, position = header
    if codec not in COLUMNAR_CODECS:
        return None
    sync = data[position - SYNC_SIZE : position]
    header_end = position
    offsets: list[int] = []
    counts: list[int] = []
    spans: list[tuple[int, int]] = []
    size_of_data = len(data)
    while position < size_of_data:
        # Two Avro longs: a block's record count and byte size. Both are short varints in
        # any block within the bounds, so the one- and two-byte cases are read inline (the
        # scan walks every block of a replay, tens of thousands for a compacted part) and
        # the rest by read_long.
        byte = data[position]
        if byte < 0x80:
            count, after_count = (byte >> 1) ^ -(byte & 1), position + 1
        else:
            long = read_long(data, position)
            if long is None:
                return None
            count, after_count = long
        if after_count + 1 < size_of_data and (byte := data[after_count]) < 0x80:
            size, start = (byte >> 1) ^ -(byte & 1), after_count + 1
        elif after_count + 1 < size_of_data and (high := data[after_count + 1]) < 0x80:
            zigzag = (byte & 0x7F) | (high << 7)  # the usual size of a compressed upload block
            size, start = (zigzag >> 1) ^ -(zigzag & 1), after_count + 2
        else:
            long = read_long(data, after_count)
            if long is None:
                return None
            size, start = long
        if not 0 < count <= MAX_RECORDS_PER_BLOCK or not 0 <= size <= MAX_BLOCK_BYTES:
            return None
        end = start + size
        if end + SYNC_SIZE > size_of_data or not data.startswith(sync, end):
            return None
        if not _inflated_within_bound(codec, data, start, end):
            return None
        offsets.append(position)
        counts.append(count)
        spans.append((start, end))
        position = end + SYNC_SIZE
    return ContainerScan(schema_json, codec, sync, header_end, tuple(offsets), tuple(counts), tuple(spans))


def _logical_types(node: Any) -> Iterator[tuple[str, str]]:
    """(field name, logical type) of every logical type in a schema, in document order."""
    if isinstance(node, dict):
        if "logicalType" in node:
            yield node.get("name", ""), str(node["logicalType"])
        for key, value in node.items():
            if key == "fields" and isinstance(value, list):
                for field in value:
                    if isinstance(field, dict):
                        for name, logical in _logical_types(field.get("type")):
                            yield name or str(field.get("name")), logical
            elif key != "fields":
                yield from _logical_types(value)
    elif isinstance(node, list):
        for item in node:
            yield from _logical_types(item)


def _contract_signature(schema: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    from fastavro.schema import to_parsing_canonical_form

    return to_parsing_canonical_form(schema), tuple(_logical_types(schema))


@functools.lru_cache(maxsize=64)
def is_contract_schema(schema_json: bytes) -> bool:
    """Whether a writer schema is exactly the contract's telemetry schema, decided once per
    distinct schema bytes (a replay's files nearly all carry the same header).

    "Exactly" is the same Parsing Canonical Form (same fields, order, types, names, symbols)
    and the same logical types in the same places; docs and defaults may differ, as they do
    not change the bytes of a record. Anything else is resolved by the reference decoder.
    """
    try:
        return _contract_signature(json.loads(schema_json)) == _CONTRACT_SIGNATURE
    except _HEADER_SCAN_ERRORS:
        return False


_CONTRACT_SIGNATURE = _contract_signature(schema_dict(TELEMETRY))


class ColumnarDeclinedError(Exception):
    """The columnar reader could not, or must not, decode these files: use the reference decoder."""


def _read_frame(payloads: Sequence[bytes]) -> Any:
    import polars_avro

    try:
        # Not rechunked: the columns converted to numpy are joined by ``to_numpy`` anyway, and
        # the id columns, read through ``rle``, need no joining.
        return polars_avro.read_avro([io.BytesIO(data) for data in payloads])
    except BaseException as exc:  # the reader's Rust errors and panics have no common base
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise ColumnarDeclinedError(f"{type(exc).__name__}: {exc}"[:300]) from exc


def _level_codes(level: Any) -> npt.NDArray[np.int8]:
    """SAE levels as ``TelemetryBatch.from_records`` codes them: null ``NO_LEVEL``, 0..5 as sent,
    anything else (200, -1, 2**31-1: an int the contract allows) ``INVALID_LEVEL``, never wrapped
    into int8, where 200 would read as -56 and change which check a record fails."""
    sent = level.fill_null(0).to_numpy().astype(np.int64)
    coded = np.where((sent >= 0) & (sent <= 5), sent, INVALID_LEVEL)
    return np.where(level.is_null().to_numpy(), NO_LEVEL, coded).astype(np.int8)


def enum_codes(series: Any, symbols: tuple[str, ...], dtype: type[np.generic]) -> npt.NDArray[Any]:
    """Enum values as codes in the schema's symbol order (nulls as ``NO_LEVEL``).

    The reader gives enums as polars categoricals, whose physical codes number the strings in
    the order the process first met them, not in the schema's order: the few distinct values
    are looked up by name and every row is translated by a table, rather than casting every row
    to a string and back to an enum. Anything else goes through that cast.
    """
    import polars as pl

    if not isinstance(series.dtype, pl.Categorical):
        try:
            physical = series.cast(pl.String).cast(pl.Enum(list(symbols))).to_physical()
        except pl.exceptions.InvalidOperationError as exc:
            raise ColumnarDeclinedError(
                f"the reader gave a value that is not a symbol: {exc}"[:300]
            ) from None
        return physical.fill_null(NO_LEVEL).to_numpy().astype(dtype)
    present = series.drop_nulls().unique()
    names = present.cast(pl.String).to_list()
    positions = present.to_physical().to_numpy().astype(np.int64)
    null_code = int(positions.max()) + 1 if len(positions) else 0
    if null_code > _MAX_CATEGORY_TABLE:
        # the process met very many categorical strings: too wide a table, take the cast
        return enum_codes(series.cast(pl.String), symbols, dtype)
    table = np.full(null_code + 1, NO_LEVEL, dtype=dtype)
    for position, name in zip(positions.tolist(), names, strict=True):
        if name not in symbols:
            raise ColumnarDeclinedError(f"the reader gave {name!r}, not a symbol of the schema")
        table[position] = symbols.index(name)
    codes: npt.NDArray[Any] = table[series.to_physical().fill_null(null_code).to_numpy()]
    return codes


_MAX_CATEGORY_TABLE = 1 << 16
"""Widest table ``enum_codes`` builds from categorical codes (64 KiB per enum column)."""


def _object_column(series: Any) -> tuple[npt.NDArray[np.object_], list[str], npt.NDArray[np.int64]]:
    """A string column as an object array (the id columns of ``TelemetryBatch``), with its
    distinct values and each row's code among them.

    The array is ``distinct[codes]``: rows of one id share one ``str`` (``string_codes``
    explains why that is cheaper than a string per row), which is equal, value for value,
    to the column ``to_numpy`` gives.
    """
    distinct, codes = string_codes(series)
    values = np.empty(len(distinct), dtype=object)
    values[:] = distinct
    return values[codes], distinct, codes


def splice(payloads: Sequence[bytes], scans: Sequence[ContainerScan]) -> bytes:
    """One container file holding every block of ``payloads``, in order, bytes unchanged.

    The columnar reader pays about a millisecond per source, more than decoding a 60-record
    upload costs; one spliced source per call removes that. The files must share the writer
    schema and codec (the first file's header is used); each block keeps its record count,
    size and compressed bytes, and gets the first file's sync marker.
    """
    first = scans[0]
    parts: list[bytes] = [payloads[0][: first.header_end]]
    for data, scan in zip(payloads, scans, strict=True):
        if scan.schema_json != first.schema_json or scan.codec != first.codec:
            raise ValueError("spliced files must share the writer schema and the codec")
        if scan.sync == first.sync:
            # Consecutive blocks of a file with the first file's sync marker (a slice of a
            # compacted part) are already spliced: copy each run of them in one piece.
            for start, end in _contiguous_runs(scan):
                parts.append(data[start:end])
            continue
        for offset, (_, end) in zip(scan.block_offsets, scan.block_data, strict=True):
            parts.append(data[offset:end])
            parts.append(first.sync)
    return b"".join(parts)


def splice_inflated(payloads: Sequence[bytes], scans: Sequence[ContainerScan]) -> bytes:
    """``splice`` of deflate files, every block inflated here: a container of the null codec.

    The reader inflates deflate with about zlib's speed, which was half of its time on a
    replay; ISA-L (``isal``) inflates the same bytes in about two thirds of that CPU, and a
    null-codec block costs the reader nothing to inflate. The blocks passed the pre-scan's
    bound on their inflated size; a block ISA-L refuses (a corrupt or truncated stream, which
    the reference decoder also refuses) declines the files.
    """
    first = scans[0]
    # Written block by block, so only the splice and one inflated block exist at a time (a
    # list of blocks joined at the end held every block twice); the buffer's value is then
    # handed over without a copy.
    spliced = io.BytesIO()
    spliced.write(_null_codec_header(first.schema_json, first.sync))
    for data, scan in zip(payloads, scans, strict=True):
        if scan.schema_json != first.schema_json or scan.codec != "deflate":
            raise ValueError("inflated splices are of deflate files that share the writer schema")
        view = memoryview(data)
        for count, (start, end) in zip(scan.block_counts, scan.block_data, strict=True):
            try:
                inflated = isal_zlib.decompress(view[start:end], -15)
            except _INFLATE_ERROR as exc:
                raise ColumnarDeclinedError(f"deflate: {exc}") from None
            spliced.write(encode_long(count) + encode_long(len(inflated)))
            spliced.write(inflated)
            spliced.write(first.sync)
    return spliced.getvalue()


_INFLATE_ERROR = cast("type[Exception]", isal_zlib.error)
"""What ISA-L raises for a stream it refuses (its type stubs declare it an instance)."""


def _null_codec_header(schema_json: bytes, sync: bytes) -> bytes:
    """A container header declaring ``schema_json`` and the null codec."""
    meta = {b"avro.schema": schema_json, b"avro.codec": b"null"}
    entries = b"".join(
        encode_long(len(key)) + key + encode_long(len(value)) + value for key, value in meta.items()
    )
    return CONTAINER_MAGIC + encode_long(len(meta)) + entries + encode_long(0) + sync


def _contiguous_runs(scan: ContainerScan) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of consecutive blocks, sync markers included."""
    run_start = run_end = -1
    for offset, (_, end) in zip(scan.block_offsets, scan.block_data, strict=True):
        if offset != run_end:
            if run_end >= 0:
                yield run_start, run_end
            run_start = offset
        run_end = end + SYNC_SIZE
    if run_end >= 0:
        yield run_start, run_end


@dataclass(frozen=True)
class ColumnarDecoded:
    """A columnar decode's batch, with its vehicle ids as a dictionary: ``vehicles`` (distinct,
    in order of first appearance) and ``vehicle_codes``, each row's position in it, so a
    caller that groups rows by vehicle looks at each vehicle once, not at each row."""

    batch: TelemetryBatch
    vehicles: list[str]
    vehicle_codes: npt.NDArray[np.int64]


def decode_columnar(payloads: Sequence[bytes], record_counts: Sequence[int]) -> TelemetryBatch:
    """One batch of every record of ``payloads`` (contract-schema container files), in order.

    ``record_counts`` are the record counts of the files the records came from (``splice``
    joins several files into one payload), in order; ``record_index`` restarts at 0 for each
    of them, as the reference decoder numbers records. Raises
    ``ColumnarDeclinedError`` if the reader fails, disagrees with the scan, or a record crosses a
    per-record bound.
    """
    return decode_columnar_coded(payloads, record_counts).batch


def decode_columnar_coded(payloads: Sequence[bytes], record_counts: Sequence[int]) -> ColumnarDecoded:
    """``decode_columnar``, with the vehicle ids' dictionary the decode found on the way."""
    import polars as pl

    total = int(sum(record_counts))
    frame = _read_frame(payloads)
    if frame.height != total:
        raise ColumnarDeclinedError(f"the reader found {frame.height} records, the block headers {total}")
    events = frame.get_column("events")
    per_sample = events.list.len().fill_null(0).to_numpy()
    if total and (int(per_sample.max()) > MAX_EVENTS_PER_SAMPLE or _longest_id(frame) > MAX_ID_LENGTH):
        raise ColumnarDeclinedError("a record crosses a per-record bound")
    starts = np.cumsum([0, *record_counts[:-1]], dtype=np.int64)
    record_index = np.arange(total, dtype=np.int64) - np.repeat(
        starts, np.asarray(record_counts, dtype=np.int64)
    )
    exploded = (
        events.filter(events.list.len() > 0).explode().struct.unnest() if int(per_sample.sum()) else None
    )
    altitude = frame.get_column("current_location_altitude")
    level = frame.get_column("active_autonomy_level")
    timestamps = frame.get_column("current_location_timestamp")
    if timestamps.dtype != pl.Int64:
        timestamps = timestamps.dt.epoch("ms")
    vehicle_id, vehicles, vehicle_codes = _object_column(frame.get_column("vehicle_id"))
    operator_id, _, _ = _object_column(frame.get_column("operator_id"))
    batch = TelemetryBatch(
        vehicle_id=vehicle_id,
        operator_id=operator_id,
        vehicle_class=enum_codes(frame.get_column("vehicle_class"), VEHICLE_CLASSES, np.int8),
        sequence_number=frame.get_column("sequence_number").to_numpy().astype(np.int64, copy=False),
        time_ms=timestamps.to_numpy().astype(np.int64, copy=False),
        latitude=frame.get_column("current_location_latitude").to_numpy().astype(np.float64, copy=False),
        longitude=frame.get_column("current_location_longitude").to_numpy().astype(np.float64, copy=False),
        altitude=altitude.fill_null(np.nan).to_numpy().astype(np.float64),
        has_altitude=altitude.is_not_null().to_numpy(),
        heading=frame.get_column("current_location_heading").to_numpy().astype(np.float64),
        accuracy=frame.get_column("current_location_horizontal_accuracy").to_numpy().astype(np.float64),
        speed_kmh=frame.get_column("speed").to_numpy().astype(np.float64),
        driving_mode=enum_codes(frame.get_column("driving_mode"), DRIVING_MODES, np.int8),
        autonomy_level=_level_codes(level),
        record_index=record_index,
        event_row=np.repeat(np.arange(total, dtype=np.int32), per_sample.astype(np.int64)),
        event_kind=(
            np.zeros(0, np.int8)
            if exploded is None
            else enum_codes(exploded.get_column("kind"), EVENT_KINDS, np.int8)
        ),
        event_initiator=(
            np.zeros(0, np.int8)
            if exploded is None
            else enum_codes(exploded.get_column("initiated_by"), INITIATORS, np.int8)
        ),
    )
    return ColumnarDecoded(batch, vehicles, vehicle_codes)


def _longest_id(frame: Any) -> int:
    """Characters of the longest vehicle or operator id; bytes bound characters from above,
    so the characters are only counted when some id has more bytes than the bound allows."""
    longest = 0
    for name in ("vehicle_id", "operator_id"):
        column = frame.get_column(name)
        longest_bytes = int(column.str.len_bytes().max())
        longest = max(
            longest, longest_bytes if longest_bytes <= MAX_ID_LENGTH else int(column.str.len_chars().max())
        )
    return longest
