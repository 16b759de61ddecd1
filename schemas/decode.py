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
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException, UnknownType, to_parsing_canonical_form

from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.registry import SchemaStore, UnknownSchemaError, without_logical_types

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
        writer_schema = json.loads(schema_json)
        stripped = without_logical_types(writer_schema)
        try:
            same = to_parsing_canonical_form(stripped) == self._reader_form
        except HEADER_ERRORS:
            same = False
        found = _ContainerWriter(
            schema=writer_schema,
            stripped_json=json.dumps(stripped).encode(),
            reader_schema=None if same else self.reader_schema,
        )
        if len(self._writers) >= _MAX_CACHED_WRITERS:
            self._writers.clear()
        self._writers[schema_json] = found
        return found

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
        """Decode an object container file block by block, resynchronising after corruption."""
        try:
            header, header_end = read_container_header(data)
            writer = self._container_writer(header["meta"]["avro.schema"])
            writer_schema = writer.schema
            meta = dict(header["meta"])
            meta["avro.schema"] = writer.stripped_json
            fast_header = io.BytesIO()
            schemaless_writer(fast_header, _HEADER_SCHEMA, {**header, "meta": meta})
        except HEADER_ERRORS as exc:
            reason = Reason.TRUNCATED if isinstance(exc, EOFError) else Reason.NOT_AVRO
            yield DeadLetter(source, 0, reason, f"unreadable container header: {_describe(exc)}")
            return
        sync: bytes = header["sync"]
        # The header is re-encoded with the logical types stripped and spliced in front of
        # the remaining blocks; fastavro then reads timestamps as integers, and a restart
        # after a corrupt block is the same splice from a later position.
        prefix = fast_header.getvalue()
        position = header_end
        next_record = 0
        while position < len(data):
            shift = position - len(prefix)
            stream = io.BytesIO(prefix + data[position:])
            good_end = position
            try:
                for block in block_reader(stream, writer.reader_schema):
                    records: list[dict[str, Any]] = []
                    block_offset = block.offset + shift
                    try:
                        records.extend(cast(Iterable[dict[str, Any]], block))
                    except SchemaResolutionError:
                        raise
                    except DECODE_ERRORS as exc:
                        if records:
                            yield DecodedBlock(source, block_offset, next_record, records, Framing.CONTAINER)
                        lost = block.num_records - len(records)
                        yield DeadLetter(source, block_offset, Reason.UNDECODABLE, _describe(exc), lost)
                        next_record += block.num_records
                        good_end = stream.tell() + shift
                        continue
                    yield DecodedBlock(source, block_offset, next_record, records, Framing.CONTAINER)
                    next_record += len(records)
                    good_end = stream.tell() + shift
                return
            except SchemaResolutionError as exc:
                yield DeadLetter(
                    source,
                    good_end,
                    Reason.SCHEMA_MISMATCH,
                    f"the file's writer schema cannot be read as {writer_schema.get('name', '?')} v"
                    f"{schema_dict(TELEMETRY)['pilotzone.schema_version']}: {exc}",
                    _count_records(prefix + data[position:]),
                )
                return
            except DECODE_ERRORS as exc:
                resync = data.find(sync, good_end)
                claimed = _records_skipped(data, good_end, resync + SYNC_SIZE if resync >= 0 else len(data))
                reason = (
                    Reason.TRUNCATED if resync < 0 and isinstance(exc, EOFError) else Reason.CORRUPT_BLOCK
                )
                message = _describe(exc)
                if resync < 0:
                    message += "; no further sync marker, rest of file skipped"
                yield DeadLetter(source, good_end, reason, message, claimed)
                next_record += claimed
                if resync < 0:
                    return
                position = resync + SYNC_SIZE


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


def _read_long(data: bytes, position: int) -> tuple[int, int] | None:
    """Avro's zig-zag varint at ``position``: (value, next position), or None if malformed."""
    shift = 0
    accumulator = 0
    for index in range(position, min(position + 10, len(data))):
        byte = data[index]
        accumulator |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (accumulator >> 1) ^ -(accumulator & 1), index + 1
        shift += 7
    return None


def _records_skipped(data: bytes, start: int, end: int) -> int:
    """How many records the blocks between ``start`` and ``end`` say they hold.

    Walks the block headers (count, size) from ``start``; if the walk lands exactly on
    ``end`` the counts are trustworthy and their sum is returned. Otherwise the skipped bytes
    are reported as the first block's claimed count, or as one unreadable unit when even that
    is implausible, rather than inflating the dead-letter total with a corrupt number.
    """
    total = 0
    first_claim: int | None = None
    position = start
    while position < end:
        count = _read_long(data, position)
        size = _read_long(data, count[1]) if count else None
        if count is None or size is None or count[0] <= 0 or size[0] < 0:
            break
        if first_claim is None:
            first_claim = count[0] if count[0] <= end - start else None
        total += count[0]
        position = size[1] + size[0] + SYNC_SIZE
    if position == end and total > 0:
        return total
    return first_claim or 1


def _count_records(container: bytes) -> int:
    """Records in a readable container, counted without resolving them to our schema."""
    total = 0
    try:
        for block in block_reader(io.BytesIO(container)):
            total += block.num_records
    except DECODE_ERRORS:
        pass
    return max(total, 1)
