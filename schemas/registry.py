"""Writer schemas a decoder can resolve: by Confluent schema id and by Avro fingerprint.

Framed single messages do not carry their schema, only a reference to it: Confluent's wire
format carries a 4-byte registry id, Avro single-object encoding a CRC-64-AVRO fingerprint of
the schema's Parsing Canonical Form. ``SchemaStore`` maps both back to the writer schema.

It starts with every published version of the telemetry schema (``schemas/avro/history``),
under the ids of the project's reference registry (``schemas/avro/registry.json``); a maker
whose own registry assigned other ids adds them with ``add(schema, schema_id=...)``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import fastavro
from fastavro.schema import SchemaParseException, UnknownType, fingerprint, to_parsing_canonical_form

from pilotzone.schemas.contract import HISTORY_DIR, SCHEMA_DIR, TELEMETRY, schema_dict
from pilotzone.schemas.limits import MAX_SCHEMA_DEPTH
from pilotzone.schemas.shape import WriterSchemaRefusedError, json_depth, writer_shape

REGISTRY_FILE = SCHEMA_DIR / "registry.json"
"""Confluent ids of the reference registry: ``{"<id>": "<name>/v<N>.avsc"}``."""


def avro_fingerprint(schema: Mapping[str, Any] | str) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint, in the little-endian order single-object encoding uses."""
    schema_obj = json.loads(schema) if isinstance(schema, str) else dict(schema)
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema_obj), "CRC-64-AVRO"))


def without_logical_types(schema: Any) -> Any:
    """A copy of a schema with ``logicalType`` annotations removed.

    Decoding ``timestamp-millis`` into ``datetime`` objects costs fastavro measurable time and
    converting them back to integers costs again; the monitor works in integer milliseconds, so
    it decodes with the annotation stripped. The binary encoding is identical, so resolution
    and fingerprints of the original schema are unaffected.
    """
    if isinstance(schema, dict):
        return {key: without_logical_types(value) for key, value in schema.items() if key != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(item) for item in schema]
    return copy.copy(schema)


@dataclass(frozen=True)
class WriterSchema:
    """A writer schema as found in the store: its JSON, fingerprint and a fast parsed form."""

    schema: dict[str, Any]
    fingerprint: bytes
    label: str
    parsed_raw: dict[str, Any] = field(repr=False, compare=False)


class UnknownSchemaError(LookupError):
    """A framed message names a schema id or fingerprint that the store does not know."""


@dataclass
class SchemaStore:
    """Known writer schemas, indexed by Confluent id and by fingerprint."""

    by_id: dict[int, WriterSchema] = field(default_factory=dict)
    by_fingerprint: dict[bytes, WriterSchema] = field(default_factory=dict)

    def add(self, schema: Mapping[str, Any], *, label: str, schema_id: int | None = None) -> WriterSchema:
        """Register a writer schema; raises ``ValueError`` if fastavro cannot parse it."""
        schema_obj = dict(schema)
        try:
            parsed_raw = cast(
                dict[str, Any], fastavro.parse_schema(without_logical_types(schema_obj), _force=True)
            )
        except (fastavro.schema.SchemaParseException, KeyError, TypeError) as exc:
            raise ValueError(f"schema {label} is not valid Avro: {exc}") from exc
        entry = WriterSchema(schema_obj, avro_fingerprint(schema_obj), label, parsed_raw)
        self.by_fingerprint[entry.fingerprint] = entry
        if schema_id is not None:
            self.by_id[schema_id] = entry
        return entry

    def add_file(self, path: str | Path, *, schema_id: int | None = None) -> WriterSchema:
        """Register a writer schema from an ``.avsc`` file."""
        path = Path(path)
        try:
            text = path.read_bytes()
            # Depth first: json.loads recurses, and a schema nested thousands deep exhausts it.
            if json_depth(text) > MAX_SCHEMA_DEPTH:
                raise WriterSchemaRefusedError(f"nests deeper than {MAX_SCHEMA_DEPTH} levels")
            schema_obj = json.loads(text.decode("utf-8"))
            writer_shape(schema_obj)
            return self.add(schema_obj, label=str(path), schema_id=schema_id)
        except (OSError, ValueError, SchemaParseException, UnknownType) as exc:
            raise ValueError(f"cannot use schema file {path}: {exc}") from exc

    def lookup_id(self, schema_id: int) -> WriterSchema:
        """The writer schema a Confluent-framed message refers to."""
        try:
            return self.by_id[schema_id]
        except KeyError:
            raise UnknownSchemaError(
                f"schema id {schema_id} is not known: pass the writer schema with --schema-id {schema_id}=FILE.avsc"
            ) from None

    def lookup_fingerprint(self, fp: bytes) -> WriterSchema:
        """The writer schema a single-object-encoded message refers to."""
        try:
            return self.by_fingerprint[fp]
        except KeyError:
            raise UnknownSchemaError(
                f"schema fingerprint {fp.hex()} is not known: pass the writer schema with --schema FILE.avsc"
            ) from None

    @classmethod
    def reference(cls, name: str = TELEMETRY) -> SchemaStore:
        """Every published version of schema ``name``, with the reference registry's ids."""
        store = cls()
        ids = {
            value: int(key) for key, value in json.loads(REGISTRY_FILE.read_text(encoding="utf-8")).items()
        }
        for path in sorted((HISTORY_DIR / name).glob("v*.avsc")):
            relative = f"{name}/{path.name}"
            store.add_file(path, schema_id=ids.get(relative))
        current = schema_dict(name)
        if avro_fingerprint(current) not in store.by_fingerprint:
            store.add(current, label=f"{name} (current)")
        return store
