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
from collections.abc import Iterator
from typing import Any

import fastavro
from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import to_parsing_canonical_form

from pilotzone.schemas.blocks import SYNC_SIZE, declared_records, frame_block
from pilotzone.schemas.container import (
    BlockRun,
    ContainerWriter,
    admit_block,
    mismatched_fields,
    records_skipped,
)
from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.decoded import (
    DECODE_ERRORS,
    HEADER_ERRORS,
    DeadLetter,
    DecodedBlock,
    Framing,
    Reason,
    describe_error,
)
from pilotzone.schemas.limits import MAX_RECORDS_PER_BLOCK, MAX_SCHEMA_DEPTH
from pilotzone.schemas.registry import SchemaStore, UnknownSchemaError, without_logical_types
from pilotzone.schemas.shape import (
    TooManyItemsError,
    WriterSchemaRefusedError,
    WriterShape,
    json_depth,
    writer_shape,
)

__all__ = [
    "CONFLUENT_MAGIC",
    "CONTAINER_MAGIC",
    "DECODE_ERRORS",
    "HEADER_ERRORS",
    "SINGLE_OBJECT_MAGIC",
    "DeadLetter",
    "DecodedBlock",
    "Framing",
    "Reason",
    "TelemetryDecoder",
    "detect_framing",
    "read_container_header",
]
"""The decoder and the values it yields (defined in ``schemas.decoded``, re-exported here)."""

CONTAINER_MAGIC = b"Obj\x01"
CONFLUENT_MAGIC = b"\x00"
SINGLE_OBJECT_MAGIC = b"\xc3\x01"

CONTAINER_HEADER_SCHEMA = fastavro.parse_schema(
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
"""The Avro object container header (the spec's ``org.apache.avro.file.Header``), parsed once."""


_MAX_CACHED_WRITERS = 64
"""Distinct writer schemas remembered per decoder; a replay normally sees one or two."""


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
        self._writers: dict[bytes, ContainerWriter] = {}
        self._message_shapes: dict[bytes, WriterShape] = {}

    def _container_writer(self, schema_json: bytes) -> ContainerWriter:
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
        found = ContainerWriter(
            schema=writer_schema,
            stripped_json=json.dumps(stripped).encode(),
            reader_schema=None if same else self.reader_schema,
            shape=shape,
        )
        if len(self._writers) >= _MAX_CACHED_WRITERS:
            self._writers.clear()
        self._writers[schema_json] = found
        return found

    def mismatch_message(self, writer: ContainerWriter, exc: BaseException) -> str:
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
            return DeadLetter(source, body_start, Reason.UNDECODABLE, describe_error(exc))
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
            yield DeadLetter(source, 0, reason, f"unreadable container header: {describe_error(exc)}")
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
            yield DeadLetter(
                source, 0, Reason.NOT_AVRO, f"unreadable container header: {describe_error(exc)}"
            )
            return
        try:
            codec = header["meta"].get("avro.codec", b"null").decode()
            meta = {**header["meta"], "avro.schema": writer.stripped_json, "avro.codec": b"null"}
            fast_header = io.BytesIO()
            schemaless_writer(fast_header, CONTAINER_HEADER_SCHEMA, {**header, "meta": meta})
        except HEADER_ERRORS as exc:
            yield DeadLetter(
                source, 0, Reason.NOT_AVRO, f"unreadable container header: {describe_error(exc)}"
            )
            return
        # The header is re-encoded with the logical types stripped and the codec removed; fastavro
        # then reads timestamps as integers from blocks this decoder has already inflated.
        run = BlockRun(self.mismatch_message, writer, source, fast_header.getvalue(), sync)
        position = header_end
        while position < len(data):
            frame = frame_block(data, position, sync)
            if isinstance(frame, str):
                yield from run.flush()
                if run.stopped:
                    return
                resync = data.find(sync, position)
                claimed = records_skipped(data, position, resync + SYNC_SIZE if resync >= 0 else len(data))
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
            refused = admit_block(frame, data, codec, writer.shape)
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


def read_container_header(data: bytes) -> tuple[dict[str, Any], int]:
    """A container file's header (``magic``, ``meta`` map of bytes, ``sync``) and its length.

    Raises what fastavro raises on a malformed header (one of ``DECODE_ERRORS``).
    """
    stream = io.BytesIO(data)
    header: dict[str, Any] = schemaless_reader(stream, CONTAINER_HEADER_SCHEMA, None)  # type: ignore[assignment]
    return header, stream.tell()
