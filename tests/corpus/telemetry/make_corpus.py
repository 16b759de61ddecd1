"""Builds the hostile telemetry corpus in this folder: ``python -m tests.corpus.telemetry.make_corpus``.

Every file is crafted to break one promise of the decoder or the record checks, found by trying
to break the monitor as an attacker and as a careless vehicle maker would. ``EXPECTED`` says what
each file must become: dead letters per reason (weighted by the records each stands for) and
the records that pass. The output is deterministic (fixed sync marker, no randomness), so the
files can be rebuilt and compared byte for byte.
"""

from __future__ import annotations

import io
import json
import math
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from pilotzone.schemas.contract import TELEMETRY, schema_dict, writer_schema
from tests.factories import sample, track

HERE = Path(__file__).parent
SYNC = b"pilotzone-corpus"
YEAR_10000_MS = 253_402_300_800_000
"""0000-01-01T00:00:00Z of year 10000, the first instant without an RFC 3339 form."""


def _long(value: int) -> bytes:
    zigzag = (value << 1) ^ (value >> 63) if -(2**63) <= value < 2**63 else value << 1
    out = bytearray()
    while zigzag > 0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


def _body(records: list[dict[str, Any]], schema: Any = None) -> bytes:
    parsed = fastavro.parse_schema(schema) if schema is not None else writer_schema(TELEMETRY)
    buffer = io.BytesIO()
    for record in records:
        fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue()


def container(schema_json: str, blocks: list[tuple[int, bytes]], codec: str = "null") -> bytes:
    """A container file built byte by byte: header, then (declared count, payload) blocks."""
    meta = {"avro.schema": schema_json.encode(), "avro.codec": codec.encode()}
    parts = [b"Obj\x01", _long(len(meta))]
    for key, value in meta.items():
        parts += [_long(len(key)), key.encode(), _long(len(value)), value]
    parts += [b"\x00", SYNC]
    for count, payload in blocks:
        parts += [_long(count), _long(len(payload)), payload, SYNC]
    return b"".join(parts)


def _contract_json() -> str:
    return json.dumps(schema_dict(TELEMETRY))


def _fastavro_container(records: list[dict[str, Any]], sync_interval: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    fastavro.writer(
        buffer,
        writer_schema(TELEMETRY),
        records,
        codec="deflate",
        sync_interval=sync_interval,
        sync_marker=SYNC,
    )
    return buffer.getvalue()


def _vehicle(name: str, n: int, **overrides: Any) -> list[dict[str, Any]]:
    return track(n, vehicle_id=f"veh-corpus-{name}", **overrides)


def every_sample_fails() -> bytes:
    samples = _vehicle("fails", 3)
    samples[0]["current_location_latitude"] = 91.0
    samples[1]["speed"] = math.nan
    samples[2]["vehicle_id"] = " \t "
    return _fastavro_container(samples)


def autonomy_level_outside_int8() -> bytes:
    samples = _vehicle("level", 4)
    samples[0]["active_autonomy_level"] = 200
    samples[1]["active_autonomy_level"] = 2**31 - 1
    samples[2]["active_autonomy_level"] = -1
    return _fastavro_container(samples)


def times_outside_the_calendar() -> bytes:
    samples = _vehicle("time", 5)
    samples[0]["current_location_timestamp"] = YEAR_10000_MS
    samples[1]["current_location_timestamp"] = 2**63 - 1
    samples[2]["current_location_timestamp"] = -(2**63)
    return _fastavro_container(samples)


def ids_with_control_characters() -> bytes:
    good = _vehicle("nul", 5)
    forged = _vehicle("nul", 2)
    for s in forged:
        s["vehicle_id"] += "\x00"
        s["sequence_number"] += 5
    tab = sample(vehicle_id="veh-corpus-\ttab", sequence_number=0)
    operator = sample(vehicle_id="veh-corpus-op", operator_id="gwangju-robotaxi-a\x00")
    bidi = sample(vehicle_id="veh-corpus-\u202ebidi")
    return _fastavro_container(good + forged + [tab, operator, bidi])


def megabyte_ids() -> bytes:
    return _fastavro_container(
        [
            sample(vehicle_id="v" * 1_000_000),
            sample(vehicle_id="veh-corpus-long-op", operator_id="o" * 1_000_000),
        ]
    )


def manual_at_level_4() -> bytes:
    samples = _vehicle("manual", 3)
    samples[1]["driving_mode"] = "MANUAL"
    return _fastavro_container(samples)


def forty_events_in_one_sample() -> bytes:
    samples = _vehicle("events40", 3)
    samples[1]["events"] = [{"kind": "DISENGAGEMENT", "initiated_by": "SYSTEM"}] * 40
    return _fastavro_container(samples)


def hundred_thousand_events() -> bytes:
    samples = _vehicle("events100k", 4)
    samples[2]["events"] = [{"kind": "DISENGAGEMENT", "initiated_by": "SYSTEM"}] * 100_000
    return _fastavro_container(samples, sync_interval=1)  # one block per sample


def two_thousand_events() -> bytes:
    """Too few bytes for the walk before decoding; refused by the count after it."""
    samples = _vehicle("events2k", 3)
    samples[1]["events"] = [{"kind": "HARSH_BRAKING", "initiated_by": None}] * 2_000
    return _fastavro_container(samples)


def writer_schema_primitive() -> bytes:
    return container('"int"', [(3, _long(1) + _long(2) + _long(3))])


def writer_schema_thousands_deep() -> bytes:
    deep = '{"type": "array", "items": ' * 5_000 + '"int"' + "}" * 5_000
    return container(deep, [(2, b"\x00\x00")])


def writer_schema_recursive() -> bytes:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"]}],
    }
    return container(json.dumps(node), [(1, b"\x02" * 10_000 + b"\x00")])


def writer_field_speed_is_string() -> bytes:
    schema = schema_dict(TELEMETRY)
    for field in schema["fields"]:
        if field["name"] == "speed":
            field["type"] = "string"
    records = [dict(s, speed="fast") for s in _vehicle("string", 2)]
    return container(json.dumps(schema), [(2, _body(records, schema))])


def block_declaring_2_62_records() -> bytes:
    one = _body(_vehicle("huge-count", 1))
    good = _vehicle("huge-count", 6)[1:]
    return container(_contract_json(), [(2**62, one), (2**62, one), (2**62, one), (5, _body(good))])


def array_of_null_declaring_2_40_items() -> bytes:
    schema = schema_dict(TELEMETRY)
    schema["fields"].append({"name": "junk", "type": {"type": "array", "items": "null"}, "default": []})
    records = [dict(s, junk=[]) for s in _vehicle("array-null", 3)]
    first = _body(records[:2], schema)
    last = _body(records[2:], schema)
    hostile = last[:-1] + _long(2**40) + b"\x00"  # 2^40 items of zero bytes, then the end of the array
    return container(json.dumps(schema), [(2, first), (1, hostile)])


def deflate_bomb() -> bytes:
    """One record's block that inflates to 1 GiB: about 1 MB on disk."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    payload = b"".join(squeeze.compress(chunk) for _ in range(1024)) + squeeze.flush()
    good = _body(_vehicle("bomb", 2))
    ok = zlib.compressobj(9, zlib.DEFLATED, -15)
    return container(_contract_json(), [(1, payload), (2, ok.compress(good) + ok.flush())], codec="deflate")


def two_thousand_operators() -> bytes:
    samples = [
        sample(vehicle_id=f"veh-corpus-ops-{i:04d}", operator_id=f"op-forged-{i:04d}", sequence_number=0)
        for i in range(2_001)
    ]
    return _fastavro_container(samples)


BUILDERS: dict[str, Callable[[], bytes]] = {
    "every-sample-fails.avro": every_sample_fails,
    "autonomy-level-outside-int8.avro": autonomy_level_outside_int8,
    "times-outside-the-calendar.avro": times_outside_the_calendar,
    "ids-with-control-characters.avro": ids_with_control_characters,
    "megabyte-ids.avro": megabyte_ids,
    "manual-at-level-4.avro": manual_at_level_4,
    "forty-events-in-one-sample.avro": forty_events_in_one_sample,
    "hundred-thousand-events.avro": hundred_thousand_events,
    "two-thousand-events.avro": two_thousand_events,
    "writer-schema-primitive.avro": writer_schema_primitive,
    "writer-schema-thousands-deep.avro": writer_schema_thousands_deep,
    "writer-schema-recursive.avro": writer_schema_recursive,
    "writer-field-speed-is-string.avro": writer_field_speed_is_string,
    "block-declaring-2-62-records.avro": block_declaring_2_62_records,
    "array-of-null-declaring-2-40-items.avro": array_of_null_declaring_2_40_items,
    "deflate-bomb.avro": deflate_bomb,
    "two-thousand-operators.avro": two_thousand_operators,
}

EXPECTED: dict[str, tuple[dict[str, int], int]] = {
    "every-sample-fails.avro": ({"out_of_range": 1, "nan": 1, "missing_id": 1}, 0),
    "autonomy-level-outside-int8.avro": ({"out_of_range": 3}, 1),
    "times-outside-the-calendar.avro": ({"out_of_range": 3}, 2),
    "ids-with-control-characters.avro": ({"invalid_id": 5}, 5),
    "megabyte-ids.avro": ({"id_too_long": 2}, 0),
    "manual-at-level-4.avro": ({"inconsistent_mode": 1}, 2),
    "forty-events-in-one-sample.avro": ({"too_many_events": 1}, 2),
    "hundred-thousand-events.avro": ({"too_many_items": 1}, 3),
    "two-thousand-events.avro": ({"too_many_items": 1}, 2),
    "writer-schema-primitive.avro": ({"schema_mismatch": 3}, 0),
    "writer-schema-thousands-deep.avro": ({"schema_mismatch": 2}, 0),
    "writer-schema-recursive.avro": ({"schema_mismatch": 1}, 0),
    "writer-field-speed-is-string.avro": ({"schema_mismatch": 2}, 0),
    "block-declaring-2-62-records.avro": ({"too_many_records": 3}, 5),
    "array-of-null-declaring-2-40-items.avro": ({"too_many_items": 1}, 2),
    "deflate-bomb.avro": ({"block_too_large": 1}, 2),
    "two-thousand-operators.avro": ({}, 2_001),
}
"""Per file: dead-lettered records per reason, and the records that pass decoding and checks."""


def build(folder: Path = HERE) -> list[Path]:
    """Write every corpus file into ``folder``; returns their paths."""
    written = []
    for name, builder in BUILDERS.items():
        path = folder / name
        path.write_bytes(builder())
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"{path.stat().st_size:>10} {path}")
