"""Container blocks framed and inflated under the block bound, in every codec."""

from __future__ import annotations

import bz2
import lzma
import zlib

import pytest

from pilotzone.schemas.blocks import (
    BlockFrame,
    BlockTooLargeError,
    CorruptPayloadError,
    declared_records,
    frame_block,
    inflate,
)

SYNC = b"0123456789abcdef"
LIMIT = 10_000


def _raw_deflate(data: bytes) -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    return squeeze.compress(data) + squeeze.flush()


def _compressed(codec: str, data: bytes) -> bytes:
    if codec == "deflate":
        return _raw_deflate(data)
    if codec == "bzip2":
        return bz2.compress(data)
    if codec == "xz":
        return lzma.compress(data)
    if codec == "snappy":
        from cramjam import snappy

        return bytes(snappy.compress_raw(data)) + b"\x00\x00\x00\x00"
    if codec == "zstandard":
        from backports import zstd

        return zstd.compress(data)
    if codec == "lz4":
        import lz4.block

        return lz4.block.compress(data)
    return data


CODECS = ["null", "deflate", "bzip2", "xz", "snappy", "zstandard", "lz4"]


@pytest.mark.parametrize("codec", CODECS)
def test_a_block_at_the_bound_inflates_and_one_byte_more_is_refused(codec: str) -> None:
    exact = bytes(range(256)) * (LIMIT // 256) + bytes(LIMIT % 256)
    assert inflate(codec, _compressed(codec, exact), LIMIT) == exact
    with pytest.raises(BlockTooLargeError):
        inflate(codec, _compressed(codec, exact + b"!"), LIMIT)


@pytest.mark.parametrize("codec", CODECS[1:])
def test_garbage_payloads_are_corrupt_not_crashes(codec: str) -> None:
    with pytest.raises(CorruptPayloadError):
        inflate(codec, b"\x05\x00\x00\x00\xff\xfe not compressed at all", LIMIT)


def test_an_unknown_codec_is_a_corrupt_payload() -> None:
    with pytest.raises(CorruptPayloadError, match="codec 'brotli' is not an Avro codec"):
        inflate("brotli", b"", LIMIT)


def test_a_gigabyte_bomb_stops_at_the_bound() -> None:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = b"".join(squeeze.compress(bytes(1 << 20)) for _ in range(64)) + squeeze.flush()
    with pytest.raises(BlockTooLargeError, match="deflate block inflates past the bound"):
        inflate("deflate", bomb, LIMIT)


def _block(count: int, payload: bytes, sync: bytes = SYNC) -> bytes:
    def long(value: int) -> bytes:
        zigzag, out = (value << 1) ^ (value >> 63), bytearray()
        while zigzag > 0x7F:
            out.append((zigzag & 0x7F) | 0x80)
            zigzag >>= 7
        return bytes([*out, zigzag])

    return long(count) + long(len(payload)) + payload + sync


def test_frames_and_what_is_wrong_with_a_frame() -> None:
    good = _block(3, b"abc")
    assert frame_block(good, 0, SYNC) == BlockFrame(3, 2, 5)
    assert (
        frame_block(_block(3, b"abc", b"x" * 16), 0, SYNC) == "block does not end with the file's sync marker"
    )
    assert (
        frame_block(good[:-1], 0, SYNC) == "block runs past the end of the file (declares 3 bytes, 18 left)"
    )
    assert frame_block(b"\x80", 0, SYNC) == "block runs past the end of the file (its header is cut off)"
    assert frame_block(_block(-2, b""), 0, SYNC) == "block declares -2 records of 0 bytes"


def test_declared_records_cap_forged_counts_at_one() -> None:
    data = _block(2**62, b"x") + _block(5, b"y") + _block(7, b"z")[:-3]
    assert declared_records(data, 0, SYNC, plausible=1_000) == 1 + 5
    assert declared_records(b"", 0, SYNC, plausible=1_000) == 1
