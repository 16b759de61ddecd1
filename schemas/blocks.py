"""Avro container blocks framed and inflated under the bounds of ``schemas.limits``.

fastavro reads a block by trusting its header: it inflates the whole payload at once (a 1 MB
deflate bomb becomes a gigabyte in memory) and counts the records it declares. Here a block is
framed first (record count, byte size, sync marker) and inflated with each codec's streaming
interface, stopping one byte past ``MAX_BLOCK_BYTES``, so a bomb costs the bound and no more.
Codecs whose format states the inflated size up front (snappy, lz4) are checked against it
before inflating.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass

SYNC_SIZE = 16


class BlockTooLargeError(ValueError):
    """The block inflates to more than the bound."""


class CorruptPayloadError(ValueError):
    """The block's payload is not valid data of the file's codec."""


@dataclass(frozen=True)
class BlockFrame:
    """Where one block lies: its declared record count, payload bytes and end (after the sync)."""

    count: int
    payload_start: int
    payload_end: int

    @property
    def end(self) -> int:
        return self.payload_end + SYNC_SIZE


def read_long(data: bytes, position: int) -> tuple[int, int] | None:
    """Avro's zig-zag varint at ``position``: (value, next position), or None if it is cut off or too long."""
    shift = 0
    accumulator = 0
    for index in range(position, min(position + 10, len(data))):
        byte = data[index]
        accumulator |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (accumulator >> 1) ^ -(accumulator & 1), index + 1
        shift += 7
    return None


def frame_block(data: bytes, position: int, sync: bytes) -> BlockFrame | str:
    """The block starting at ``position``, or why it is not one (a message; "block runs past ..."
    when the file ends inside it)."""
    count = read_long(data, position)
    size = read_long(data, count[1]) if count else None
    if count is None or size is None:
        if len(data) - position < 20:
            return "block runs past the end of the file (its header is cut off)"
        return "block header is not two Avro longs"
    if count[0] < 0 or size[0] < 0:
        return f"block declares {count[0]} records of {size[0]} bytes"
    payload_end = size[1] + size[0]
    if payload_end + SYNC_SIZE > len(data):
        return f"block runs past the end of the file (declares {size[0]} bytes, {len(data) - size[1]} left)"
    if data[payload_end : payload_end + SYNC_SIZE] != sync:
        return "block does not end with the file's sync marker"
    return BlockFrame(count[0], size[1], payload_end)


def declared_records(data: bytes, position: int, sync: bytes, plausible: int) -> int:
    """Records the well-framed blocks from ``position`` declare, each claim capped at ``plausible``.

    Used to count what a refused file held without inflating it; a claim above ``plausible``
    counts as one record, so a forged count cannot inflate the run's totals. At least 1.
    """
    total = 0
    while position < len(data):
        frame = frame_block(data, position, sync)
        if isinstance(frame, str):
            break
        total += frame.count if frame.count <= plausible else 1
        position = frame.end
    return max(total, 1)


def inflate(codec: str, payload: bytes, limit: int) -> bytes:
    """The block's payload decompressed; ``BlockTooLargeError`` past ``limit`` bytes, ``CorruptPayloadError``
    for bytes the codec rejects or a codec this installation cannot read."""
    if codec == "null":
        if len(payload) > limit:
            raise BlockTooLargeError(f"uncompressed block holds {len(payload)} bytes")
        return payload
    if codec == "deflate":
        inflater = zlib.decompressobj(-15)
        try:
            out = inflater.decompress(payload, limit + 1)
        except zlib.error as exc:
            raise CorruptPayloadError(f"deflate: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise BlockTooLargeError("deflate block inflates past the bound")
        if not inflater.eof:
            raise CorruptPayloadError("deflate stream ends early")
        return out
    if codec in ("bzip2", "xz"):
        stream = bz2.BZ2Decompressor() if codec == "bzip2" else lzma.LZMADecompressor()
        try:
            out = stream.decompress(payload, limit + 1)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise CorruptPayloadError(f"{codec}: {exc}") from None
        if len(out) > limit or not (stream.eof or stream.needs_input):
            raise BlockTooLargeError(f"{codec} block inflates past the bound")
        if not stream.eof:
            raise CorruptPayloadError(f"{codec} stream ends early")
        return out
    return _inflate_optional(codec, payload, limit)


def _inflate_optional(codec: str, payload: bytes, limit: int) -> bytes:
    """Codecs of optional packages (those fastavro reads with them)."""
    try:
        if codec == "snappy":
            from cramjam import DecompressionError, snappy

            data = payload[:-4]  # the last 4 bytes are a CRC-32 of the inflated data
            try:
                if snappy.decompress_raw_len(data) > limit:
                    raise BlockTooLargeError(f"snappy block declares {snappy.decompress_raw_len(data)} bytes")
                return bytes(snappy.decompress_raw(data))
            except DecompressionError as exc:
                raise CorruptPayloadError(f"snappy: {exc}") from None
        if codec == "zstandard":
            from backports import zstd

            stream = zstd.ZstdDecompressor()
            try:
                out = stream.decompress(payload, limit + 1)
            except zstd.ZstdError as exc:
                raise CorruptPayloadError(f"zstandard: {exc}") from None
            if len(out) > limit or not (stream.eof or stream.needs_input):
                raise BlockTooLargeError("zstandard block inflates past the bound")
            if not stream.eof:
                raise CorruptPayloadError("zstandard stream ends early")
            return out
        if codec == "lz4":
            import lz4.block

            if len(payload) < 4:
                raise CorruptPayloadError("lz4 block shorter than its size prefix")
            if int.from_bytes(payload[:4], "little") > limit:
                raise BlockTooLargeError(f"lz4 block declares {int.from_bytes(payload[:4], 'little')} bytes")
            try:
                return bytes(lz4.block.decompress(payload))
            except lz4.block.LZ4BlockError as exc:
                raise CorruptPayloadError(f"lz4: {exc}") from None
    except ImportError as exc:
        raise CorruptPayloadError(
            f"codec {codec} needs a package that is not installed ({exc.name})"
        ) from None
    raise CorruptPayloadError(f"codec {codec[:40]!r} is not an Avro codec")
