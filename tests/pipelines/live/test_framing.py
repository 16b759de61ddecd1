"""Published values are what the monitor's decoder (and ``pilotzone validate``) accept."""

from __future__ import annotations

import json

from pilotzone.pipelines.live.framing import TelemetryEncoder, confluent_frame, registry_id
from pilotzone.schemas.decode import DecodedBlock, Framing, TelemetryDecoder
from pilotzone.schemas.registry import REGISTRY_FILE
from tests.factories import T0_MS, confluent_message, sample


def test_the_schema_id_is_the_reference_registrys_for_the_current_telemetry_schema() -> None:
    ids = json.loads(REGISTRY_FILE.read_text())
    assert ids[str(registry_id())] == "telemetry_sample/v1.avsc"


def test_a_message_decodes_to_the_same_record() -> None:
    record = sample(sequence_number=7, events=[{"kind": "DISENGAGEMENT", "initiated_by": "SAFETY_DRIVER"}])
    message = TelemetryEncoder().message(record)
    assert message[:5] == b"\x00\x00\x00\x00\x01"
    decoded = TelemetryDecoder().decode_message(message, "m")
    assert isinstance(decoded, DecodedBlock)
    assert decoded.framing is Framing.CONFLUENT
    assert decoded.records == [record]


def test_messages_are_byte_identical_to_the_test_factorys_confluent_framing() -> None:
    record = sample()
    assert TelemetryEncoder().message(record) == confluent_message(record, registry_id())


def test_frame_puts_magic_and_big_endian_id_first() -> None:
    assert confluent_frame(258, b"body") == b"\x00\x00\x00\x01\x02body"


def test_shifting_moves_only_the_timestamp() -> None:
    encoder = TelemetryEncoder()
    record = sample(current_location_timestamp=T0_MS)
    body = encoder.body(record)
    assert encoder.shifted(body, 0) is body
    assert encoder.decode_body(encoder.shifted(body, -1500)) == {
        **record,
        "current_location_timestamp": T0_MS - 1500,
    }
