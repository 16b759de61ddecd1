"""The decoder: every framing and codec, schema resolution, and corrupt input accounted for."""

from __future__ import annotations

from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.decode import (
    DeadLetter,
    DecodedBlock,
    Framing,
    Reason,
    TelemetryDecoder,
    detect_framing,
)
from pilotzone.schemas.registry import SchemaStore
from tests.factories import T0_MS, confluent_message, container_bytes, sample, single_object_message, track

DECODER = TelemetryDecoder()


def _decode(
    data: bytes, decoder: TelemetryDecoder = DECODER
) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    records: list[dict[str, Any]] = []
    dead: list[DeadLetter] = []
    for item in decoder.decode(data, "test"):
        if isinstance(item, DeadLetter):
            dead.append(item)
        else:
            records.extend(item.records)
    return records, dead


def _v2_schema() -> dict[str, Any]:
    """A compatible newer writer: one extra optional field and a new vehicle class symbol."""
    v2 = schema_dict(TELEMETRY)
    v2["pilotzone.schema_version"] = 2
    v2["fields"].append({"name": "battery_state_of_charge", "type": ["null", "float"], "default": None})
    for f in v2["fields"]:
        if f["name"] == "vehicle_class":
            f["type"]["symbols"].append("TRACTOR")
    return v2


@pytest.mark.parametrize("codec", sorted(fastavro.read.BLOCK_READERS))
def test_every_codec_fastavro_reads_decodes_to_the_same_records(codec: str) -> None:
    records = track(300)
    decoded, dead = _decode(container_bytes(records, codec=codec, sync_interval=1000))
    assert dead == []
    assert decoded == records


def test_timestamps_come_out_as_integer_milliseconds() -> None:
    decoded, _ = _decode(container_bytes([sample()]))
    assert decoded[0]["current_location_timestamp"] == T0_MS
    assert type(decoded[0]["current_location_timestamp"]) is int


def test_blocks_carry_offsets_and_running_record_numbers() -> None:
    data = container_bytes(track(200), sync_interval=500)
    blocks = [b for b in DECODER.decode(data, "f.avro") if isinstance(b, DecodedBlock)]
    assert len(blocks) > 3
    assert [b.first_record for b in blocks] == [
        sum(len(x.records) for x in blocks[:i]) for i in range(len(blocks))
    ]
    assert all(data[b.offset - 16 : b.offset] == b"pilotzone-tests!" for b in blocks[1:])


def test_newer_compatible_writer_resolves_to_our_reader() -> None:
    v2 = _v2_schema()
    written = [sample(battery_state_of_charge=80.5), sample(vehicle_class="TRACTOR", sequence_number=1)]
    decoded, dead = _decode(container_bytes(written, schema=v2))
    assert dead == []
    assert "battery_state_of_charge" not in decoded[0]
    assert [r["vehicle_class"] for r in decoded] == ["ROBOTAXI", "OTHER"]


def test_writer_differing_only_in_docs_reads_without_resolution_and_gives_the_same_records() -> None:
    documented = schema_dict(TELEMETRY)
    documented["doc"] = "the same fields, described differently"
    decoder = TelemetryDecoder()
    written = track(30)
    decoded, dead = _decode(container_bytes(written, schema=documented), decoder)
    again, _ = _decode(container_bytes(written, schema=documented), decoder)
    assert dead == [] and decoded == again == written
    (writer,) = decoder._writers.values()
    assert writer.reader_schema is None


def test_incompatible_writer_is_one_schema_mismatch_counting_every_record() -> None:
    wrong = schema_dict(TELEMETRY)
    wrong["fields"] = [dict(f, type="string") if f["name"] == "speed" else f for f in wrong["fields"]]
    data = container_bytes([sample(speed="fast")] * 25, schema=wrong, sync_interval=100)
    decoded, dead = _decode(data)
    assert decoded == []
    assert [(d.reason, d.records) for d in dead] == [(Reason.SCHEMA_MISMATCH, 25)]


def test_a_corrupt_block_is_skipped_and_decoding_resumes_at_the_next_sync_marker() -> None:
    records = track(1000)
    data = bytearray(container_bytes(records, sync_interval=800))
    blocks = [b for b in DECODER.decode(bytes(data), "f") if isinstance(b, DecodedBlock)]
    # Damage the sync marker that ends block 3. Its end is then unknown, so the decoder
    # resumes after the next intact marker (the end of block 4) and dead-letters both blocks
    # with the record counts their headers state.
    data[blocks[4].offset - 5] ^= 0xFF
    decoded, dead = _decode(bytes(data))
    lost = len(blocks[3].records) + len(blocks[4].records)
    assert [(d.reason, d.offset, d.records) for d in dead] == [(Reason.CORRUPT_BLOCK, blocks[3].offset, lost)]
    first_lost = blocks[3].first_record
    assert decoded == records[:first_lost] + records[first_lost + lost :]


def test_a_truncated_file_keeps_its_complete_blocks() -> None:
    records = track(500)
    data = container_bytes(records, sync_interval=800)
    decoded, dead = _decode(data[:-40])
    assert len(dead) == 1
    assert dead[0].reason is Reason.TRUNCATED
    assert len(decoded) + dead[0].records == len(records)
    assert decoded == records[: len(decoded)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", Reason.NOT_AVRO),
        (b"PK\x03\x04 a zip file", Reason.NOT_AVRO),
        (b"Obj\x01\x04", Reason.TRUNCATED),
        (b"\x00\x00\x00", Reason.NOT_AVRO),
        (b"\xc3\x01\x01\x02", Reason.NOT_AVRO),
    ],
)
def test_garbage_is_a_dead_letter_with_a_reason(payload: bytes, reason: Reason) -> None:
    decoded, dead = _decode(payload)
    assert decoded == []
    assert [d.reason for d in dead] == [reason]


def test_confluent_framed_message_with_the_reference_registry_id() -> None:
    record = sample(events=[{"kind": "DISENGAGEMENT", "initiated_by": "SAFETY_DRIVER"}])
    message = confluent_message(record, schema_id=1)
    assert detect_framing(message) is Framing.CONFLUENT
    assert _decode(message) == ([record], [])


def test_confluent_framed_message_with_an_unknown_id_says_how_to_supply_it() -> None:
    decoded, dead = _decode(confluent_message(sample(), schema_id=77))
    assert decoded == []
    assert dead[0].reason is Reason.UNKNOWN_SCHEMA
    assert "--schema-id 77=FILE.avsc" in dead[0].message


def test_confluent_message_from_a_maker_registry_with_a_newer_schema() -> None:
    store = SchemaStore.reference()
    store.add(_v2_schema(), label="maker v2", schema_id=4711)
    message = confluent_message(sample(battery_state_of_charge=12.0), schema_id=4711, schema=_v2_schema())
    assert _decode(message, TelemetryDecoder(store)) == ([sample()], [])


def test_single_object_encoding_resolves_by_fingerprint() -> None:
    current = schema_dict(TELEMETRY)
    message = single_object_message(sample(), current)
    assert detect_framing(message) is Framing.SINGLE_OBJECT
    assert _decode(message) == ([sample()], [])
    unknown = single_object_message(sample(), _v2_schema())
    assert [d.reason for d in _decode(unknown)[1]] == [Reason.UNKNOWN_SCHEMA]


def test_trailing_bytes_after_a_framed_record_are_reported() -> None:
    decoded, dead = _decode(confluent_message(sample(), schema_id=1) + b"\x00\x01")
    assert decoded == []
    assert [(d.reason, d.offset) for d in dead] == [
        (Reason.TRAILING_BYTES, len(confluent_message(sample(), 1)))
    ]


CORRUPTIBLE = container_bytes(
    track(400, events=[{"kind": "HARSH_BRAKING", "initiated_by": None}]), codec="null", sync_interval=600
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(CORRUPTIBLE) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    cut=st.one_of(st.none(), st.integers(0, len(CORRUPTIBLE))),
)
def test_corrupt_bytes_never_raise_and_every_record_is_accounted_for(
    flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(CORRUPTIBLE)
    for position, value in flips:
        data[position] = value
    decoded, dead = _decode(bytes(data[:cut]))
    assert all(d.records >= 1 and d.message for d in dead)
    if not dead:
        assert len(decoded) == 400
