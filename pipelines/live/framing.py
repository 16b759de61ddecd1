"""Telemetry records as Kafka message values: Confluent wire format, the contract's schema and id.

Vehicles with a schema registry send each sample as ``0x00``, the writer schema's 4-byte
big-endian registry id, then the Avro binary body. The monitor's decoder
(``schemas.decode.TelemetryDecoder``) resolves the id through the reference registry
(``schemas/avro/registry.json``), so the publisher takes its id from the same place: what it
sends is exactly what the pipeline and ``pilotzone validate`` accept.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import fastavro

from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.decode import CONFLUENT_MAGIC
from pilotzone.schemas.registry import SchemaStore, avro_fingerprint, without_logical_types

TIMESTAMP_FIELD = "current_location_timestamp"


def registry_id(name: str = TELEMETRY, store: SchemaStore | None = None) -> int:
    """The reference registry's id of the current version of schema ``name``.

    Raises ``LookupError`` when the current schema has no id yet: a new schema version must be
    registered (``schemas/avro/registry.json``) before anything is published with it, or every
    consumer would dead-letter the messages as ``unknown_schema``.
    """
    store = store if store is not None else SchemaStore.reference(name)
    current = avro_fingerprint(schema_dict(name))
    for schema_id, entry in sorted(store.by_id.items()):
        if entry.fingerprint == current:
            return schema_id
    raise LookupError(f"the current {name} schema has no id in the reference registry: register it first")


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    """``body`` behind Confluent's 5-byte header (magic byte 0, big-endian schema id)."""
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big") + body


class TelemetryEncoder:
    """Encodes telemetry records (timestamps as integer ms) with the current contract schema.

    The schema is used with its logical types removed: records carry epoch milliseconds, as the
    decoder produces them, and the binary encoding of ``timestamp-millis`` is a plain ``long``.
    """

    def __init__(self, schema_id: int | None = None) -> None:
        self.schema_id = registry_id() if schema_id is None else schema_id
        self._schema = fastavro.parse_schema(without_logical_types(schema_dict(TELEMETRY)))
        self._header = confluent_frame(self.schema_id, b"")

    def body(self, record: Mapping[str, Any]) -> bytes:
        """The Avro binary encoding of one record, without framing."""
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self._schema, dict(record))
        return buffer.getvalue()

    def decode_body(self, body: bytes) -> dict[str, Any]:
        """The record an unframed body holds (the inverse of ``body``)."""
        record = fastavro.schemaless_reader(io.BytesIO(body), self._schema, None)
        if not isinstance(record, dict):
            raise ValueError("an Avro body that is not a telemetry record")
        return record

    def frame(self, body: bytes) -> bytes:
        """A Kafka message value: ``body`` behind this encoder's Confluent header."""
        return self._header + body

    def message(self, record: Mapping[str, Any]) -> bytes:
        """One record as a Confluent-framed message value."""
        return self.frame(self.body(record))

    def shifted(self, body: bytes, shift_ms: int) -> bytes:
        """``body`` with its sample's timestamp moved by ``shift_ms`` (re-encoded; 0 returns it as is)."""
        if shift_ms == 0:
            return body
        record = self.decode_body(body)
        record[TIMESTAMP_FIELD] += shift_ms
        return self.body(record)
