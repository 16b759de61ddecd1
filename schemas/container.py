"""Reading a container file's blocks under the bounds of ``schemas.limits``.

``schemas.decode`` frames the file and hands each admitted block (``admit_block``: record count,
inflated size and array lengths within bounds) to a ``BlockRun``, which decodes runs of blocks
with one fastavro reader and turns what fails into dead letters with their reasons and counts.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import fastavro
from fastavro import block_reader
from fastavro._read_py import match_types
from fastavro.read import SchemaResolutionError

from pilotzone.schemas.blocks import (
    SYNC_SIZE,
    BlockFrame,
    BlockTooLargeError,
    CorruptPayloadError,
    declared_records,
    inflate,
    read_long,
)
from pilotzone.schemas.decoded import (
    DECODE_ERRORS,
    HEADER_ERRORS,
    DeadLetter,
    DecodedBlock,
    Framing,
    Reason,
    describe_error,
)
from pilotzone.schemas.limits import MAX_ARRAY_ITEMS, MAX_BLOCK_BYTES, MAX_RECORDS_PER_BLOCK
from pilotzone.schemas.registry import without_logical_types
from pilotzone.schemas.shape import TooManyItemsError, WriterShape


@dataclass(frozen=True)
class ContainerWriter:
    """A container file's writer schema, stripped for decoding, and the reader schema to
    resolve it to (``None`` when resolution is the identity)."""

    schema: dict[str, Any]
    stripped_json: bytes
    reader_schema: Any
    shape: WriterShape


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


def records_skipped(data: bytes, start: int, end: int) -> int:
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


def admit_block(
    frame: BlockFrame, data: bytes, codec: str, shape: WriterShape
) -> bytes | tuple[Reason, str, int]:
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


@functools.lru_cache(maxsize=4096)
def encode_long(value: int) -> bytes:
    """Avro's zig-zag varint of ``value`` (cached: the blocks of a file or a splice repeat a few
    counts and sizes tens of thousands of times)."""
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag > 0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


class BlockRun:
    """Admitted blocks of one file, decoded together by one fastavro reader.

    Blocks are collected until ``MAX_BLOCK_BYTES`` of them are inflated (or a refused block or
    the end of the file comes), then read in one pass: fastavro re-parses the writer schema per
    reader, so one reader per block would cost that parse for every block.
    """

    def __init__(
        self,
        mismatch: Callable[[ContainerWriter, BaseException], str],
        writer: ContainerWriter,
        source: str,
        prefix: bytes,
        sync: bytes,
    ):
        self.mismatch = mismatch
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
            parts += [encode_long(count), encode_long(len(raw)), raw, self.sync]
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
                self.mismatch(self.writer, exc),
                unread,
            )
            self.stopped = True
        except DECODE_ERRORS as exc:
            # Not a record's bytes (those are caught per block): fastavro refused the run itself.
            unread = sum(count for _, count, _ in blocks[max(index - 1, 0) :]) - decoded
            yield DeadLetter(
                self.source,
                blocks[max(index - 1, 0)][0],
                Reason.UNDECODABLE,
                describe_error(exc),
                max(unread, 1),
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
            yield DeadLetter(self.source, offset, Reason.UNDECODABLE, describe_error(exc), lost)
            return
        if records:
            yield DecodedBlock(self.source, offset, self.next_record, records, Framing.CONTAINER)
            self.next_record += len(records)
