"""Builders of telemetry records and payloads shared by the tests.

Records are built from one realistic baseline sample so each test states only what it varies.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fastavro

from pilotzone.schemas.contract import TELEMETRY, writer_schema
from pilotzone.schemas.registry import avro_fingerprint

T0_MS = 1_795_395_600_000
"""2026-11-23T01:00:00Z (10:00 in Seoul), the base time of test samples."""

BASE_SAMPLE: dict[str, Any] = {
    "vehicle_id": "veh-test-0001",
    "operator_id": "op-a",
    "vehicle_class": "ROBOTAXI",
    "sequence_number": 0,
    "current_location_timestamp": T0_MS,
    "current_location_latitude": 35.1595,
    "current_location_longitude": 126.8526,
    "current_location_altitude": 42.0,
    "current_location_heading": 90.0,
    "current_location_horizontal_accuracy": 2.0,
    "speed": 30.0,
    "driving_mode": "AUTONOMOUS",
    "active_autonomy_level": 4,
    "events": [],
}


INCIDENT_LOG_KEYS = [
    "incident_id",
    "pilot_zone",
    "area",
    "rule_id",
    "kind",
    "severity",
    "vehicle_id",
    "operator_id",
    "start_time",
    "end_time",
    "peak_value",
    "latitude",
    "longitude",
    "config_version",
    "report_deadline",
    "explanation",
]
"""The incident log's keys in order, as the pipeline issue specifies them (the contract)."""


def sample(**overrides: Any) -> dict[str, Any]:
    """One valid telemetry sample with some fields replaced."""
    return {**BASE_SAMPLE, **overrides}


def track(
    n: int, vehicle_id: str = "veh-test-0001", step_m: float = 8.0, **overrides: Any
) -> list[dict[str, Any]]:
    """``n`` samples one second apart, driving east ``step_m`` metres per second."""
    metres_per_degree_lon = 91_000.0  # at 35 degrees north, close enough for test tracks
    return [
        sample(
            vehicle_id=vehicle_id,
            sequence_number=i,
            current_location_timestamp=T0_MS + 1000 * i,
            current_location_longitude=BASE_SAMPLE["current_location_longitude"]
            + i * step_m / metres_per_degree_lon,
            **overrides,
        )
        for i in range(n)
    ]


def container_bytes(
    records: Iterable[dict[str, Any]],
    schema: dict[str, Any] | None = None,
    codec: str = "deflate",
    sync_interval: int = 16000,
) -> bytes:
    """An Avro object container file holding ``records``."""
    buffer = io.BytesIO()
    fastavro.writer(
        buffer,
        fastavro.parse_schema(schema) if schema else writer_schema(TELEMETRY),
        list(records),
        codec=codec,
        sync_interval=sync_interval,
        sync_marker=b"pilotzone-tests!",
    )
    return buffer.getvalue()


def write_container(path: Path, records: Iterable[dict[str, Any]], **kwargs: Any) -> Path:
    """Write a container file and return its path."""
    path.write_bytes(container_bytes(records, **kwargs))
    return path


def avro_body(record: dict[str, Any], schema: dict[str, Any] | None = None) -> bytes:
    """The bare Avro binary encoding of one record."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(
        buffer, fastavro.parse_schema(schema) if schema else writer_schema(TELEMETRY), record
    )
    return buffer.getvalue()


def confluent_message(record: dict[str, Any], schema_id: int, schema: dict[str, Any] | None = None) -> bytes:
    """Confluent wire format: magic 0, 4-byte big-endian schema id, Avro binary."""
    return b"\x00" + schema_id.to_bytes(4, "big") + avro_body(record, schema)


def single_object_message(record: dict[str, Any], schema: dict[str, Any]) -> bytes:
    """Avro single-object encoding: C3 01, 8-byte little-endian CRC-64-AVRO fingerprint, Avro binary."""
    return b"\xc3\x01" + avro_fingerprint(schema) + avro_body(record, schema)
