"""The columnar fast path: every column equal to the reference decoder's, and every refusal a refusal."""

from __future__ import annotations

import dataclasses
import io
import json
import zlib
from dataclasses import fields
from typing import Any

import fastavro
import numpy as np
import polars as pl
import pytest

from pilotzone.schemas import limits
from pilotzone.schemas.batch import NO_LEVEL, TelemetryBatch
from pilotzone.schemas.columnar import (
    COLUMNAR_CODECS,
    ColumnarDeclinedError,
    HeaderReader,
    decode_columnar,
    decode_columnar_coded,
    enum_codes,
    is_contract_schema,
    scan_container,
    splice,
    splice_inflated,
)
from pilotzone.schemas.contract import TELEMETRY, schema_dict, schema_json, writer_schema
from pilotzone.schemas.decode import DecodedBlock, TelemetryDecoder
from tests.factories import container_bytes, track

CODECS = ["null", "deflate", "snappy", "zstandard", "bzip2", "xz", "lz4"]
DECODER = TelemetryDecoder()


def varied_records(vehicle: str = "veh-test-0001", n: int = 40) -> list[dict[str, Any]]:
    """A track with nulls, every enum symbol and events (with and without initiator)."""
    records = track(n, vehicle_id=vehicle)
    classes = schema_dict(TELEMETRY)["fields"][2]["type"]["symbols"]
    modes = schema_dict(TELEMETRY)["fields"][11]["type"]["symbols"]
    for i, record in enumerate(records):
        record["vehicle_class"] = classes[i % len(classes)]
        record["driving_mode"] = modes[i % len(modes)]
        record["current_location_altitude"] = None if i % 3 == 0 else 10.0 + i
        record["active_autonomy_level"] = None if i % 4 == 0 else i % 6
        record["speed"] = 0.1 * i  # not exact in float32: both paths must widen it the same way
    records[2]["events"] = [{"kind": "DISENGAGEMENT", "initiated_by": None}]
    records[5]["events"] = [
        {"kind": kind, "initiated_by": by}
        for kind, by in zip(
            [
                "REMOTE_TAKEOVER",
                "MINIMAL_RISK_MANOEUVRE",
                "COLLISION",
                "HARSH_BRAKING",
                "EMERGENCY_STOP",
                "OTHER",
            ],
            ["SYSTEM", "SAFETY_DRIVER", "REMOTE_OPERATOR", "OTHER", None, "SYSTEM"],
            strict=True,
        )
    ]
    records[-1]["events"] = [{"kind": "COLLISION", "initiated_by": "REMOTE_OPERATOR"}]
    return records


def reference_batch(data: bytes) -> TelemetryBatch:
    blocks = [item for item in DECODER.decode(data, "file.avro")]
    assert all(isinstance(block, DecodedBlock) for block in blocks)
    return TelemetryBatch.concat(
        [TelemetryBatch.from_records(block.records, block.first_record) for block in blocks]  # type: ignore[union-attr]
    )


def assert_same_columns(actual: TelemetryBatch, expected: TelemetryBatch) -> None:
    for field in fields(TelemetryBatch):
        got, want = getattr(actual, field.name), getattr(expected, field.name)
        assert got.dtype == want.dtype, field.name
        assert got.shape == want.shape, field.name
        if got.dtype.kind == "f":
            assert np.array_equal(got, want, equal_nan=True), field.name
        else:
            assert got.tolist() == want.tolist(), field.name


@pytest.mark.parametrize("codec", CODECS)
def test_every_column_equals_the_reference_decoder(codec: str) -> None:
    first = container_bytes(varied_records("veh-a"), codec=codec, sync_interval=600)
    second = container_bytes(varied_records("veh-b", 25), codec=codec, sync_interval=300)
    scans = [scan_container(first), scan_container(second)]
    if codec not in COLUMNAR_CODECS:
        assert scans == [None, None]  # lz4: the reference decoder reads it
        return
    assert all(scan is not None and is_contract_schema(scan.schema_json) for scan in scans)
    assert [len(scan.block_counts) > 1 for scan in scans if scan] == [True, True]
    expected = TelemetryBatch.concat([reference_batch(first), reference_batch(second)])
    spliced = splice([first, second], [scan for scan in scans if scan])
    actual = decode_columnar([spliced], [40, 25])
    assert_same_columns(actual, expected)
    assert actual.event_row.tolist() == [
        2,
        5,
        5,
        5,
        5,
        5,
        5,
        39,
        40 + 2,
        40 + 5,
        40 + 5,
        40 + 5,
        40 + 5,
        40 + 5,
        40 + 5,
        64,
    ]
    assert actual.record_index.tolist() == list(range(40)) + list(range(25))


def test_block_offsets_are_the_reference_decoders() -> None:
    data = container_bytes(varied_records(), codec="deflate", sync_interval=600)
    scan = scan_container(data)
    assert scan is not None
    offsets = [item.offset for item in DECODER.decode(data, "f") if isinstance(item, DecodedBlock)]
    assert list(scan.block_offsets) == offsets
    counts = [len(item.records) for item in DECODER.decode(data, "f") if isinstance(item, DecodedBlock)]
    assert list(scan.block_counts) == counts


def test_the_contract_schema_is_recognised_from_its_bytes_not_its_docs() -> None:
    assert is_contract_schema(schema_json(TELEMETRY).encode())
    uploaded = scan_container(container_bytes(track(1)))
    assert uploaded is not None and is_contract_schema(uploaded.schema_json)
    undocumented = schema_dict(TELEMETRY)
    undocumented.pop("doc")
    assert is_contract_schema(json.dumps(undocumented).encode())
    without_logical = schema_dict(TELEMETRY)
    without_logical["fields"][4]["type"] = "long"
    assert not is_contract_schema(json.dumps(without_logical).encode())
    renamed = schema_dict(TELEMETRY)
    renamed["fields"][0]["name"] = "vehicle"
    assert not is_contract_schema(json.dumps(renamed).encode())
    assert not is_contract_schema(b"{not json")


def _blocks(data: bytes) -> tuple[int, int]:
    scan = scan_container(data)
    assert scan is not None
    return scan.block_offsets[0], scan.block_data[0][0]


def test_the_prescan_refuses_what_the_bounds_refuse() -> None:
    data = container_bytes(track(5), codec="null")
    assert scan_container(data) is not None
    offset, _ = _blocks(data)
    # A block declaring more records than MAX_RECORDS_PER_BLOCK (zig-zag varint of the count).
    too_many = (limits.MAX_RECORDS_PER_BLOCK + 1) * 2
    varint = bytearray()
    while True:
        byte, too_many = too_many & 0x7F, too_many >> 7
        varint.append(byte | (0x80 if too_many else 0))
        if not too_many:
            break
    assert scan_container(data[:offset] + bytes(varint) + data[offset + 1 :]) is None
    # A wrong sync marker, a truncated block, trailing bytes, garbage.
    assert scan_container(data[:-1] + bytes([data[-1] ^ 0xFF])) is None
    assert scan_container(data[:-20]) is None
    assert scan_container(data + b"\x00") is None
    assert scan_container(b"not avro") is None


def test_the_prescan_stops_a_deflate_bomb_without_inflating_it_whole() -> None:
    records = track(1)
    plain = container_bytes(records, codec="null")
    offset, start = _blocks(plain)
    body = plain[start:-16]
    bomb_body = body + b"\x00" * (limits.MAX_BLOCK_BYTES + 10)  # inflates past the bound
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = packer.compress(bomb_body) + packer.flush()
    deflated = container_bytes(records, codec="deflate")
    d_offset, _ = _blocks(deflated)
    sync = deflated[-16:]

    def zigzag(value: int) -> bytes:
        value = value * 2
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    hostile = deflated[:d_offset] + zigzag(1) + zigzag(len(compressed)) + compressed + sync
    assert scan_container(hostile) is None
    assert offset > 0


def test_the_columnar_reader_refuses_a_record_over_a_per_record_bound() -> None:
    records = track(3)
    records[1]["events"] = [{"kind": "OTHER", "initiated_by": None}] * (limits.MAX_EVENTS_PER_SAMPLE + 1)
    data = container_bytes(records, codec="null")
    scan = scan_container(data)
    assert scan is not None
    with pytest.raises(ColumnarDeclinedError):
        decode_columnar([data], [scan.records])


def test_a_file_the_reader_cannot_read_is_declined_not_crashed() -> None:
    data = container_bytes(track(3), codec="null")
    scan = scan_container(data)
    assert scan is not None
    with pytest.raises(ColumnarDeclinedError):
        decode_columnar([data], [scan.records + 1])
    with pytest.raises(ColumnarDeclinedError):
        decode_columnar([data[: scan.header_end] + b"\x02\x10" + b"\xff" * 8 + scan.sync], [1])


def test_splicing_refuses_files_of_different_codecs() -> None:
    a = container_bytes(track(2), codec="null")
    b = container_bytes(track(2), codec="deflate")
    scans = [scan_container(a), scan_container(b)]
    with pytest.raises(ValueError, match="share"):
        splice([a, b], [s for s in scans if s])


def test_an_empty_buffer_of_fastavro_matches() -> None:
    buffer = io.BytesIO()
    fastavro.writer(buffer, writer_schema(TELEMETRY), [], codec="null")
    scan = scan_container(buffer.getvalue())
    assert scan is not None and scan.records == 0


def _zigzag(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda body: _zigzag(2**40) + body[1:], id="string-length-2^40"),
        pytest.param(lambda body: body[:-1] + _zigzag(2**40) + b"\x00", id="array-of-2^40-events"),
        pytest.param(
            lambda body: body[:-1] + _zigzag(-(2**40)) + _zigzag(10) + b"\x00", id="negative-array-block"
        ),
    ],
)
def test_hostile_lengths_inside_a_well_framed_block_are_declined_not_allocated(rewrite: Any) -> None:
    """Lengths inside a record are not in the block header, so the pre-scan passes them; the
    reader must then refuse them rather than allocate (the reference decoder judges the file)."""
    data = container_bytes(track(1), codec="null")
    scan = scan_container(data)
    assert scan is not None
    start, end = scan.block_data[0]
    body = rewrite(data[start:end])
    hostile = data[: scan.block_offsets[0]] + _zigzag(1) + _zigzag(len(body)) + body + scan.sync
    hostile_scan = scan_container(hostile)
    assert hostile_scan is not None
    with pytest.raises(ColumnarDeclinedError):
        decode_columnar([hostile], [hostile_scan.records])


def test_autonomy_levels_outside_the_sae_range_are_coded_as_the_reference_decoder_codes_them() -> None:
    # int8 would wrap 200 to -56 and 2**31-1 to -1 (no level); both must fail as out_of_range.
    records = varied_records("veh-a", 6)
    for record, level in zip(records, [200, 2**31 - 1, -1, -(2**31), None, 5], strict=True):
        record["active_autonomy_level"] = level
    data = container_bytes(records, codec="null")
    scan = scan_container(data)
    assert scan is not None
    actual = decode_columnar([splice([data], [scan])], [6])
    assert_same_columns(actual, reference_batch(data))
    assert actual.autonomy_level.tolist() == [127, 127, 127, 127, -1, 5]


def interleaved_records(vehicles: list[str], per_vehicle: int) -> list[dict[str, Any]]:
    """Samples of several vehicles one after the other, so the id column has no runs."""
    tracks = [varied_records(vehicle, per_vehicle) for vehicle in vehicles]
    return [record for samples in zip(*tracks, strict=True) for record in samples]


ODD_IDS = ["veh-광주-07", "🚌-shuttle", "e\u0301", "veh-b\x00", "veh-b"]
"""Ids the contract allows that a careless conversion could merge or mangle."""


@pytest.mark.parametrize("layout", ["runs", "interleaved"])
def test_the_id_columns_and_their_dictionary_equal_the_reference_decoders(layout: str) -> None:
    records = (
        [record for vehicle in ODD_IDS for record in varied_records(vehicle, 20)]
        if layout == "runs"
        else interleaved_records(ODD_IDS, 8)
    )
    for index, record in enumerate(records):
        record["operator_id"] = ["op-서울", "op-🚕", "op-a"][
            index % 3 if layout == "interleaved" else index // 40
        ]
    data = container_bytes(records, codec="deflate", sync_interval=700)
    scan = scan_container(data)
    assert scan is not None
    decoded = decode_columnar_coded([splice_inflated([data], [scan])], [len(records)])
    assert_same_columns(decoded.batch, reference_batch(data))
    assert decoded.vehicles == list(dict.fromkeys(record["vehicle_id"] for record in records))
    assert [decoded.vehicles[code] for code in decoded.vehicle_codes.tolist()] == [
        record["vehicle_id"] for record in records
    ]


def test_an_inflated_splice_decodes_to_the_columns_of_the_deflate_files() -> None:
    first = container_bytes(varied_records("veh-a"), codec="deflate", sync_interval=600)
    second = container_bytes(varied_records("veh-b", 25), codec="deflate", sync_interval=300)
    scans = [scan for scan in (scan_container(first), scan_container(second)) if scan]
    inflated = splice_inflated([first, second], scans)
    inflated_scan = scan_container(inflated)
    assert inflated_scan is not None and inflated_scan.codec == "null"
    assert inflated_scan.block_counts == scans[0].block_counts + scans[1].block_counts
    expected = [*fastavro.reader(io.BytesIO(first)), *fastavro.reader(io.BytesIO(second))]
    assert list(fastavro.reader(io.BytesIO(inflated))) == expected
    actual = decode_columnar([inflated], [40, 25])
    assert_same_columns(actual, TelemetryBatch.concat([reference_batch(first), reference_batch(second)]))
    plain = container_bytes(varied_records("veh-c"), codec="null")
    with pytest.raises(ValueError, match="deflate"):  # only deflate files are inflated
        splice_inflated([plain], [scan for scan in [scan_container(plain)] if scan])


def test_a_corrupt_deflate_block_declines_the_inflated_splice() -> None:
    data = container_bytes(varied_records(), codec="deflate", sync_interval=600)
    scan = scan_container(data)
    assert scan is not None
    start, end = scan.block_data[1]
    corrupt = data[:start] + b"\xff" * (end - start) + data[end:]
    corrupt_scan = scan_container(corrupt)
    assert corrupt_scan is not None  # the frame is intact: only inflating finds the damage
    with pytest.raises(ColumnarDeclinedError, match="deflate"):
        splice_inflated([corrupt], [corrupt_scan])


def test_a_splice_of_one_files_consecutive_blocks_keeps_every_blocks_bytes() -> None:
    """Blocks that follow each other in a file are copied as one piece: the same bytes as
    copying them block by block, with a block left out where the slice leaves it out."""
    data = container_bytes(varied_records(), codec="deflate", sync_interval=300)
    scan = scan_container(data)
    assert scan is not None and len(scan.block_offsets) >= 4
    kept = [0, 1, 3]  # a gap: two runs
    part = dataclasses.replace(
        scan,
        block_offsets=tuple(scan.block_offsets[i] for i in kept),
        block_counts=tuple(scan.block_counts[i] for i in kept),
        block_data=tuple(scan.block_data[i] for i in kept),
    )
    expected = data[: scan.header_end] + b"".join(
        data[scan.block_offsets[i] : scan.block_data[i][1]] + scan.sync for i in kept
    )
    assert splice([data], [part]) == expected


def test_the_prescan_reads_block_headers_of_every_varint_width() -> None:
    """Counts and sizes of one, two and three varint bytes (the common widths are read inline)."""
    for records, interval in ((track(3), 16000), (track(300), 100_000), (track(2000), 400_000)):
        data = container_bytes(records, codec="null", sync_interval=interval)
        scan = scan_container(data)
        assert scan is not None
        blocks = [item for item in DECODER.decode(data, "f") if isinstance(item, DecodedBlock)]
        assert list(scan.block_offsets) == [block.offset for block in blocks]
        assert list(scan.block_counts) == [len(block.records) for block in blocks]
    assert max(end - start for start, end in scan.block_data) > 1 << 14  # three bytes


def test_enum_codes_follow_the_schema_whatever_the_categorical_order() -> None:
    symbols = ("CAR", "BUS", "TRUCK")
    values = ["TRUCK", None, "CAR", "BUS", "TRUCK"]
    expected = [2, NO_LEVEL, 0, 1, 2]
    reversed_order = pl.Categorical(pl.Categories("pilotzone-tests-reversed"))
    pl.Series(["TRUCK", "BUS", "CAR"], dtype=reversed_order)  # physical codes 0, 1, 2 in that order
    wide = pl.Categorical(pl.Categories("pilotzone-tests-wide"))
    pl.Series([f"x{i}" for i in range(70_000)], dtype=wide)  # codes past the table's width
    for dtype in (pl.Categorical, reversed_order, wide, pl.Enum(["BUS", "TRUCK", "CAR"]), pl.String):
        series = pl.Series(values, dtype=dtype)
        assert enum_codes(series, symbols, np.int8).tolist() == expected, dtype
        assert enum_codes(series, symbols, np.int8).dtype == np.int8
    for dtype in (pl.Categorical, pl.String):
        with pytest.raises(ColumnarDeclinedError):
            enum_codes(pl.Series(["CAR", "PLANE"], dtype=dtype), symbols, np.int8)


def test_a_header_reader_parses_a_header_once_and_tells_files_apart() -> None:
    """Files of one writer differ by their sync markers only: each file's own marker and
    blocks are read, whatever header came before, and a new header is parsed anew."""
    headers = HeaderReader()
    first = container_bytes(track(5, vehicle_id="veh-a"), codec="deflate")
    second = fastavro_bytes(track(7, vehicle_id="veh-b"), sync=b"another-marker!!")
    newer = schema_dict(TELEMETRY)
    newer["fields"].append({"name": "firmware", "type": "string", "default": ""})
    other = container_bytes([{**r, "firmware": "2"} for r in track(2)], schema=newer, codec="null")
    for data in (first, second, other, first, first[:60], b"Obj\x01"):
        assert scan_container(data, headers) == scan_container(data)
    scan = scan_container(second, headers)
    assert scan is not None and scan.sync == b"another-marker!!" and scan.records == 7
    assert headers.last[0] == first[: len(headers.last[0])]  # a truncated file leaves the last good header


def fastavro_bytes(records: list[dict[str, Any]], sync: bytes) -> bytes:
    buffer = io.BytesIO()
    fastavro.writer(buffer, writer_schema(TELEMETRY), records, codec="deflate", sync_marker=sync)
    return buffer.getvalue()
