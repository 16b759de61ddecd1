"""One decoder for everything vehicles actually send.

Three framings arrive in practice:

* Avro object container files (``Obj\\x01`` magic), the upload format, in every codec fastavro
  reads (null, deflate, snappy, zstandard, bzip2, xz, lz4; the last four need their optional
  packages installed). The writer schema travels in the header.
* Confluent wire format (``0x00`` + 4-byte big-endian schema id + Avro binary), as Kafka
  producers with a schema registry send it.
* Avro single-object encoding (``C3 01`` + 8-byte CRC-64-AVRO fingerprint + Avro binary).

Each is resolved from the writer's schema to the monitor's reader schema with Avro's own
resolution rules, so data from older or newer compatible schema versions reads the same.

Nothing here raises on bad input. The decoder yields ``DecodedBlock`` values for what it
could read and ``DeadLetter`` values, each with a stable ``reason`` code and the byte offset,
for what it could not. A corrupt container block does not end the file: the decoder looks
for the next sync marker and carries on, as Avro's sync markers are designed to allow.
"""

from __future__ import annotations

import io
import json
import lzma
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import fastavro
from fastavro import block_reader, schemaless_reader, schemaless_writer
from fastavro._read_py import match_types
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException, UnknownType, to_parsing_canonical_form

from pilotzone.schemas.blocks import (
    BlockFrame,
    BlockTooLargeError,
    CorruptPayloadError,
    declared_records,
    frame_block,
    inflate,
    read_long,
)
from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.limits import MAX_ARRAY_ITEMS, MAX_BLOCK_BYTES, MAX_RECORDS_PER_BLOCK, MAX_SCHEMA_DEPTH
from pilotzone.schemas.registry import SchemaStore, UnknownSchemaError, without_logical_types
from pilotzone.schemas.shape import (
    TooManyItemsError,
    WriterSchemaRefusedError,
    WriterShape,
    json_depth,
    writer_shape,
)

CONTAINER_MAGIC = b"Obj\x01"
CONFLUENT_MAGIC = b"\x00"
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
SYNC_SIZE = 16

# What fastavro raises on corrupt bytes, found by fuzzing the decoder (tests/schemas).
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    MemoryError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    SchemaResolutionError,
    SchemaParseException,
    UnknownType,
)
HEADER_ERRORS: tuple[type[BaseException], ...] = (*DECODE_ERRORS, json.JSONDecodeError, AttributeError)
"""What reading a container header can raise: bad bytes, or metadata that is not schema JSON."""

_HEADER_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "org.apache.avro.file.Header",
        "fields": [
            {"name": "magic", "type": {"type": "fixed", "name": "Magic", "size": 4}},
            {"name": "meta", "type": {"type": "map", "values": "bytes"}},
            {"name": "sync", "type": {"type": "fixed", "name": "Sync", "size": SYNC_SIZE}},
        ],
    }
)


class Framing(StrEnum):
    """How a payload is framed."""

    CONTAINER = "avro-container"
    CONFLUENT = "confluent"
    SINGLE_OBJECT = "single-object"
    UNKNOWN = "unknown"


class Reason(StrEnum):
    """Why something became a dead letter; stable codes, used as metric label values."""

    NOT_AVRO = "not_avro"
    TRUNCATED = "truncated"
    CORRUPT_BLOCK = "corrupt_block"
    UNDECODABLE = "undecodable"
    SCHEMA_MISMATCH = "schema_mismatch"
    UNKNOWN_SCHEMA = "unknown_schema"
    TRAILING_BYTES = "trailing_bytes"
    TOO_MANY_RECORDS = "too_many_records"
    """A block declares more records than ``MAX_RECORDS_PER_BLOCK`` (counted as one record)."""
    BLOCK_TOO_LARGE = "block_too_large"
    """A block inflates past ``MAX_BLOCK_BYTES``."""
    TOO_MANY_ITEMS = "too_many_items"
    """An array or map in a record declares more than ``MAX_ARRAY_ITEMS`` items."""


@dataclass(frozen=True)
class DecodedBlock:
    """Records decoded from one container block or one framed message.

    ``first_record`` is the position of the first record among all records of the source, so
    every record can be traced back as ``source``, ``offset`` (of its block) and index.
    """

    source: str
    offset: int
    first_record: int
    records: list[dict[str, Any]]
    framing: Framing


@dataclass(frozen=True)
class _ContainerWriter:
    """A container file's writer schema, stripped for decoding, and the reader schema to
    resolve it to (``None`` when resolution is the identity)."""

    schema: dict[str, Any]
    stripped_json: bytes
    reader_schema: Any
    shape: WriterShape


_MAX_CACHED_WRITERS = 64
"""Distinct writer schemas remembered per decoder; a replay normally sees one or two."""


@dataclass(frozen=True)
class DeadLetter:
    """Bytes that could not be decoded: where, why, and how many records they held if known."""

    source: str
    offset: int
    reason: Reason
    message: str
    records: int = 1


def detect_framing(data: bytes) -> Framing:
    """Which of the supported framings ``data`` starts with."""
    if data.startswith(CONTAINER_MAGIC):
        return Framing.CONTAINER
    if data.startswith(SINGLE_OBJECT_MAGIC):
        return Framing.SINGLE_OBJECT
    if data.startswith(CONFLUENT_MAGIC):
        return Framing.CONFLUENT
    return Framing.UNKNOWN


class TelemetryDecoder:
    """Decodes payloads of any supported framing into reader-schema records.

    Timestamps come out as integer milliseconds (see ``without_logical_types``). One decoder
    is cheap to keep per worker and safe to reuse; it holds no per-payload state.
    """

    def __init__(self, store: SchemaStore | None = None, reader_name: str = TELEMETRY) -> None:
        self.store = store if store is not None else SchemaStore.reference(reader_name)
        reader_dict = without_logical_types(schema_dict(reader_name))
        self.reader_schema = fastavro.parse_schema(reader_dict)
        self._reader_form = to_parsing_canonical_form(reader_dict)
        self._writers: dict[bytes, _ContainerWriter] = {}
        self._message_shapes: dict[bytes, WriterShape] = {}

    def _container_writer(self, schema_json: bytes) -> _ContainerWriter:
        """How to read files written with ``schema_json``, worked out once per distinct schema.

        Nearly every file of a replay carries the same writer schema, and stripping its logical
        types per file cost more than a tenth of the decode time. When the stripped writer
        schema has the reader's Parsing Canonical Form, the two encode the same fields in the
        same order with the same types and names, so Avro resolution is the identity; reading
        with the writer schema alone gives the same records and skips fastavro's resolving
        reader, which is about twice as slow as its plain one.
        """
        known = self._writers.get(schema_json)
        if known is not None:
            return known
        # Checked before json.loads, whose recursion a schema nested thousands deep exhausts.
        if json_depth(schema_json) > MAX_SCHEMA_DEPTH:
            raise WriterSchemaRefusedError(f"nests deeper than {MAX_SCHEMA_DEPTH} levels")
        writer_schema = json.loads(schema_json)
        shape = writer_shape(writer_schema)
        stripped = without_logical_types(writer_schema)
        fastavro.parse_schema(stripped)  # a schema fastavro refuses is an unreadable header, not a block
        try:
            same = to_parsing_canonical_form(stripped) == self._reader_form
        except HEADER_ERRORS:
            same = False
        found = _ContainerWriter(
            schema=writer_schema,
            stripped_json=json.dumps(stripped).encode(),
            reader_schema=None if same else self.reader_schema,
            shape=shape,
        )
        if len(self._writers) >= _MAX_CACHED_WRITERS:
            self._writers.clear()
        self._writers[schema_json] = found
        return found

    def mismatch_message(self, writer: _ContainerWriter, exc: BaseException) -> str:
        """Why a container's writer schema does not resolve, naming the fields that differ."""
        name = writer.schema.get("name", "?")
        version = schema_dict(TELEMETRY)["pilotzone.schema_version"]
        fields = mismatched_fields(writer.schema, schema_dict(TELEMETRY))
        named = f" (fields: {'; '.join(fields)})" if fields else ""
        return f"the file's writer schema cannot be read as {name} v{version}: {exc}{named}"[:600]

    def decode(self, data: bytes, source: str) -> Iterator[DecodedBlock | DeadLetter]:
        """Decode a whole payload (a file's bytes or one message) of any supported framing."""
        framing = detect_framing(data)
        if framing is Framing.CONTAINER:
            yield from self.decode_container(data, source)
        elif framing is Framing.UNKNOWN:
            yield DeadLetter(
                source,
                0,
                Reason.NOT_AVRO,
                "not an Avro container file, Confluent-framed or single-object-encoded message "
                f"(starts with {data[:4].hex() or 'nothing'})",
            )
        else:
            yield self.decode_message(data, source)

    def decode_message(self, data: bytes, source: str) -> DecodedBlock | DeadLetter:
        """Decode one Confluent-framed or single-object-encoded message."""
        framing = detect_framing(data)
        try:
            if framing is Framing.CONFLUENT and len(data) >= 5:
                writer = self.store.lookup_id(int.from_bytes(data[1:5], "big"))
                body_start = 5
            elif framing is Framing.SINGLE_OBJECT and len(data) >= 10:
                writer = self.store.lookup_fingerprint(data[2:10])
                body_start = 10
            else:
                return DeadLetter(
                    source, 0, Reason.NOT_AVRO, f"not a framed Avro message ({len(data)} bytes)"
                )
        except UnknownSchemaError as exc:
            return DeadLetter(source, 0, Reason.UNKNOWN_SCHEMA, str(exc))
        try:
            shape = self._message_shapes.get(writer.fingerprint) or writer_shape(writer.schema)
            self._message_shapes[writer.fingerprint] = shape
            shape.check_items(data[body_start:], 1)
        except WriterSchemaRefusedError as exc:
            return DeadLetter(source, 0, Reason.SCHEMA_MISMATCH, f"writer schema {writer.label} {exc}")
        except TooManyItemsError as exc:
            return DeadLetter(source, body_start, Reason.TOO_MANY_ITEMS, str(exc))
        body = io.BytesIO(data)
        body.seek(body_start)
        try:
            record = schemaless_reader(body, writer.parsed_raw, self.reader_schema)
        except SchemaResolutionError as exc:
            return DeadLetter(source, 0, Reason.SCHEMA_MISMATCH, f"writer schema {writer.label}: {exc}")
        except DECODE_ERRORS as exc:
            return DeadLetter(source, body_start, Reason.UNDECODABLE, _describe(exc))
        if body.tell() != len(data):
            return DeadLetter(
                source,
                body.tell(),
                Reason.TRAILING_BYTES,
                f"{len(data) - body.tell()} bytes after the record: the framing or the schema id is wrong",
            )
        if not isinstance(record, dict):
            return DeadLetter(source, 0, Reason.SCHEMA_MISMATCH, "payload is not a record")
        return DecodedBlock(source, 0, 0, [record], framing)

    def decode_container(self, data: bytes, source: str) -> Iterator[DecodedBlock | DeadLetter]:
        """Decode an object container file block by block, resynchronising after corruption.

        Every block is framed, bounded and decompressed here (``schemas.limits``) before
        fastavro sees it: a block declaring too many records, inflating past the block bound or
        holding an over-long array is dead-lettered with its own reason and decoding carries on
        with the next block. Blocks that pass are handed to fastavro re-framed without a codec.
        """
        try:
            header, header_end = read_container_header(data)
        except HEADER_ERRORS as exc:
            reason = Reason.TRUNCATED if isinstance(exc, EOFError) else Reason.NOT_AVRO
            yield DeadLetter(source, 0, reason, f"unreadable container header: {_describe(exc)}")
            return
        sync: bytes = header["sync"]
        try:
            writer = self._container_writer(header["meta"]["avro.schema"])
        except WriterSchemaRefusedError as exc:
            yield DeadLetter(
                source,
                header_end,
                Reason.SCHEMA_MISMATCH,
                f"the file's writer schema {exc}: only record schemas resolvable to the contract are read",
                declared_records(data, header_end, sync, MAX_RECORDS_PER_BLOCK),
            )
            return
        except HEADER_ERRORS as exc:
            yield DeadLetter(source, 0, Reason.NOT_AVRO, f"unreadable container header: {_describe(exc)}")
            return
        try:
            codec = header["meta"].get("avro.codec", b"null").decode()
            meta = {**header["meta"], "avro.schema": writer.stripped_json, "avro.codec": b"null"}
            fast_header = io.BytesIO()
            schemaless_writer(fast_header, _HEADER_SCHEMA, {**header, "meta": meta})
        except HEADER_ERRORS as exc:
            yield DeadLetter(source, 0, Reason.NOT_AVRO, f"unreadable container header: {_describe(exc)}")
            return
        # The header is re-encoded with the logical types stripped and the codec removed; fastavro
        # then reads timestamps as integers from blocks this decoder has already inflated.
        run = _BlockRun(self, writer, source, fast_header.getvalue(), sync)
        position = header_end
        while position < len(data):
            frame = frame_block(data, position, sync)
            if isinstance(frame, str):
                yield from run.flush()
                if run.stopped:
                    return
                resync = data.find(sync, position)
                claimed = _records_skipped(data, position, resync + SYNC_SIZE if resync >= 0 else len(data))
                truncated = resync < 0 and frame.startswith("block runs past")
                message = frame if resync >= 0 else frame + "; no further sync marker, rest of file skipped"
                yield DeadLetter(
                    source,
                    position,
                    Reason.TRUNCATED if truncated else Reason.CORRUPT_BLOCK,
                    message,
                    claimed,
                )
                run.next_record += claimed
                if resync < 0:
                    return
                position = resync + SYNC_SIZE
                continue
            refused = _admit(frame, data, codec, writer.shape)
            if isinstance(refused, tuple):
                yield from run.flush()
                if run.stopped:
                    return
                reason, message, counted = refused
                yield DeadLetter(source, position, reason, message, counted)
                run.next_record += counted
            else:
                yield from run.add(position, frame.count, refused, data, frame.end)
                if run.stopped:
                    return
            position = frame.end
        yield from run.flush()


def mismatched_fields(writer: dict[str, Any], reader: dict[str, Any]) -> list[str]:
    """Top-level fields whose writer type cannot be read as the reader's, as ``name: writer -> reader``.

    fastavro says only "string is not float"; a maker needs to know which field that is.
    """
    found: list[str] = []
    try:
        named: dict[str, dict[str, Any]] = {"writer": {}, "reader": {}}
        parsed_writer: dict[str, Any] = cast(
            dict[str, Any],
            fastavro.parse_schema(without_logical_types(writer), named_schemas=named["writer"]),
        )
        parsed_reader: dict[str, Any] = cast(
            dict[str, Any],
            fastavro.parse_schema(without_logical_types(reader), named_schemas=named["reader"]),
        )
        writer_fields = {f["name"]: f["type"] for f in parsed_writer["fields"]}
        for field in parsed_reader["fields"]:
            if field["name"] not in writer_fields:
                continue
            written = writer_fields[field["name"]]
            if not match_types(written, field["type"], named):
                found.append(f"{field['name']}: {_type_name(written)} -> {_type_name(field['type'])}")
    except HEADER_ERRORS:
        return found
    return found


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return "[" + ", ".join(_type_name(branch) for branch in schema) + "]"
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))[:60]
    return str(schema)[:60]


def read_container_header(data: bytes) -> tuple[dict[str, Any], int]:
    """A container file's header (``magic``, ``meta`` map of bytes, ``sync``) and its length.

    Raises what fastavro raises on a malformed header (one of ``DECODE_ERRORS``).
    """
    stream = io.BytesIO(data)
    header: dict[str, Any] = schemaless_reader(stream, _HEADER_SCHEMA, None)  # type: ignore[assignment]
    return header, stream.tell()


def _describe(exc: BaseException) -> str:
    text = str(exc) or "no detail"
    return f"{type(exc).__name__}: {text}"[:300]


def _records_skipped(data: bytes, start: int, end: int) -> int:
    """How many records the blocks between ``start`` and ``end`` say they hold.

    Walks the block headers (count, size) from ``start``; if the walk lands exactly on
    ``end`` the counts are trustworthy and their sum is returned. Otherwise the skipped bytes
    are reported as the first block's claimed count, or as one unreadable unit when even that
    is implausible (more than the bytes or ``MAX_RECORDS_PER_BLOCK``), rather than inflating
    the dead-letter total with a corrupt number.
    """
    total = 0
    first_claim: int | None = None
    position = start
    while position < end:
        count = read_long(data, position)
        size = read_long(data, count[1]) if count else None
        if count is None or size is None or count[0] <= 0 or size[0] < 0:
            break
        if count[0] > min(end - start, MAX_RECORDS_PER_BLOCK):
            return first_claim or 1
        if first_claim is None:
            first_claim = count[0]
        total += count[0]
        position = size[1] + size[0] + SYNC_SIZE
    if position == end and total > 0:
        return total
    return first_claim or 1


def _admit(frame: BlockFrame, data: bytes, codec: str, shape: WriterShape) -> bytes | tuple[Reason, str, int]:
    """A framed block's inflated records, or why it is refused: (reason, message, records it counts for)."""
    if frame.count > MAX_RECORDS_PER_BLOCK:
        return (
            Reason.TOO_MANY_RECORDS,
            f"block declares {frame.count} records (at most {MAX_RECORDS_PER_BLOCK}); counted as one",
            1,
        )
    try:
        raw = inflate(codec, data[frame.payload_start : frame.payload_end], MAX_BLOCK_BYTES)
    except BlockTooLargeError as exc:
        return (
            Reason.BLOCK_TOO_LARGE,
            f"{exc}: a block may inflate to at most {MAX_BLOCK_BYTES} bytes",
            frame.count,
        )
    except CorruptPayloadError as exc:
        return Reason.CORRUPT_BLOCK, str(exc)[:300], frame.count
    if shape.needs_walk(len(raw), frame.count):
        try:
            shape.check_items(raw, frame.count)
        except TooManyItemsError as exc:
            return Reason.TOO_MANY_ITEMS, str(exc), frame.count
    return raw


_CHUNK_RECORDS = 8_192
_CHUNK_EVENTS = 65_536
"""A block's records are handed on in chunks of at most this many records or events, so a large
block never exists as Python objects all at once."""


def _encode_long(value: int) -> bytes:
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag > 0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


class _BlockRun:
    """Admitted blocks of one file, decoded together by one fastavro reader.

    Blocks are collected until ``MAX_BLOCK_BYTES`` of them are inflated (or a refused block or
    the end of the file comes), then read in one pass: fastavro re-parses the writer schema per
    reader, so one reader per block would cost that parse for every block.
    """

    def __init__(
        self, decoder: TelemetryDecoder, writer: _ContainerWriter, source: str, prefix: bytes, sync: bytes
    ):
        self.decoder = decoder
        self.writer = writer
        self.source = source
        self.prefix = prefix
        self.sync = sync
        self.pending: list[tuple[int, int, bytes]] = []
        self.pending_bytes = 0
        self.next_record = 0
        self.stopped = False
        self.rest: tuple[bytes, int] = (b"", 0)

    def add(
        self, offset: int, count: int, raw: bytes, data: bytes, end: int
    ) -> Iterator[DecodedBlock | DeadLetter]:
        self.pending.append((offset, count, raw))
        self.pending_bytes += len(raw)
        self.rest = (data, end)
        if self.pending_bytes >= MAX_BLOCK_BYTES:
            yield from self.flush()

    def flush(self) -> Iterator[DecodedBlock | DeadLetter]:
        if not self.pending:
            return
        blocks, self.pending, self.pending_bytes = self.pending, [], 0
        parts = [self.prefix]
        for _, count, raw in blocks:
            parts += [_encode_long(count), _encode_long(len(raw)), raw, self.sync]
        index = 0
        decoded = 0
        try:
            for block in block_reader(io.BytesIO(b"".join(parts)), self.writer.reader_schema):
                offset, count, _ = blocks[index]
                index += 1
                decoded = 0
                for item in self._records(block, offset, count):
                    decoded += len(item.records) if isinstance(item, DecodedBlock) else item.records
                    yield item
        except SchemaResolutionError as exc:
            data, end = self.rest
            unread = sum(count for _, count, _ in blocks[max(index - 1, 0) :]) - decoded
            unread += declared_records(data, end, self.sync, MAX_RECORDS_PER_BLOCK) if end < len(data) else 0
            offset = blocks[max(index - 1, 0)][0]
            yield DeadLetter(
                self.source,
                offset,
                Reason.SCHEMA_MISMATCH,
                self.decoder.mismatch_message(self.writer, exc),
                unread,
            )
            self.stopped = True
        except DECODE_ERRORS as exc:
            # Not a record's bytes (those are caught per block): fastavro refused the run itself.
            unread = sum(count for _, count, _ in blocks[max(index - 1, 0) :]) - decoded
            yield DeadLetter(
                self.source, blocks[max(index - 1, 0)][0], Reason.UNDECODABLE, _describe(exc), max(unread, 1)
            )
            self.stopped = True

    def _records(self, block: Any, offset: int, count: int) -> Iterator[DecodedBlock | DeadLetter]:
        records: list[dict[str, Any]] = []
        events = done = 0
        try:
            for record in cast(Iterable[dict[str, Any]], block):
                items = len(record.get("events", ()))
                if items > MAX_ARRAY_ITEMS:
                    # Built unwalked (the block had too little room to hurt); refused all the same.
                    if records:
                        yield DecodedBlock(self.source, offset, self.next_record, records, Framing.CONTAINER)
                        self.next_record += len(records)
                        done += len(records)
                        records, events = [], 0
                    yield DeadLetter(
                        self.source,
                        offset,
                        Reason.TOO_MANY_ITEMS,
                        f"events holds {items} items (at most {MAX_ARRAY_ITEMS})",
                    )
                    self.next_record += 1
                    done += 1
                    continue
                records.append(record)
                events += items
                if len(records) >= _CHUNK_RECORDS or events >= _CHUNK_EVENTS:
                    yield DecodedBlock(self.source, offset, self.next_record, records, Framing.CONTAINER)
                    self.next_record += len(records)
                    done += len(records)
                    records, events = [], 0
        except SchemaResolutionError:
            if records:
                yield DecodedBlock(self.source, offset, self.next_record, records, Framing.CONTAINER)
                self.next_record += len(records)
            raise
        except DECODE_ERRORS as exc:
            if records:
                yield DecodedBlock(self.source, offset, self.next_record, records, Framing.CONTAINER)
            lost = count - done - len(records)
            self.next_record += count - done
            yield DeadLetter(self.source, offset, Reason.UNDECODABLE, _describe(exc), lost)
            return
        if records:
            yield DecodedBlock(self.source, offset, self.next_record, records, Framing.CONTAINER)
            self.next_record += len(records)
