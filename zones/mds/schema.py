"""The MDS JSON Schemas documents are checked against, and their errors as readable lines.

MDS 1.2.0 published JSON Schemas (draft-06) for Policy and Geography; they ship in
``schemas/`` unmodified (CC BY 4.0, see ``schemas/README.md``). MDS 2.0 publishes its
objects as OpenAPI only, so a 2.0 document is checked against the 1.2.0 schemas with 2.0's
changes to the fields this package reads and writes applied (``_as_2_0``): the version,
the vehicle types, the vehicle states and events, no ``rate`` rule type, an optional
``mode_id``. The Geography schemas refer to the GeoJSON FeatureCollection schema on
geojson.org; offline, that reference resolves to the small local schema below.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft6Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

Document = Literal["policies", "geographies", "geography"]

GEOJSON_FEATURE_COLLECTION_URI = "https://geojson.org/schema/FeatureCollection.json"

MDS_2_0_VEHICLE_TYPES = (
    "bicycle",
    "bus",
    "cargo_bicycle",
    "car",
    "delivery_robot",
    "moped",
    "motorcycle",
    "scooter_standing",
    "scooter_seated",
    "truck",
    "other",
)
"""MDS 2.0's vehicle types (1.2's ``scooter`` became ``scooter_standing``/``scooter_seated``)."""

MDS_2_0_VEHICLE_STATES = (
    "available",
    "elsewhere",
    "non_operational",
    "on_trip",
    "removed",
    "reserved",
    "stopped",
    "unknown",
)

MDS_2_0_EXTRA_EVENTS = (
    "changed_geographies",
    "charging_start",
    "charging_end",
    "driver_cancellation",
    "maintenance_end",
    "maintenance_start",
    "not_located",
    "order_drop_off",
    "order_pick_up",
    "passenger_cancellation",
    "provider_cancellation",
    "recommission",
    "remote_end",
    "remote_start",
    "reservation_stop",
    "service_end",
    "service_start",
    "trip_pause",
    "trip_resume",
)

_GEOMETRY = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"enum": ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]},
        "coordinates": {"type": "array"},
    },
}
GEOJSON_FEATURE_COLLECTION: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-06/schema#",
    "$id": GEOJSON_FEATURE_COLLECTION_URI,
    "title": "GeoJSON FeatureCollection (local, for offline validation)",
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "properties", "geometry"],
                "properties": {
                    "type": {"const": "Feature"},
                    "properties": {"type": ["object", "null"]},
                    "geometry": {"oneOf": [{"type": "null"}, _GEOMETRY]},
                },
            },
        },
    },
}
"""The structure RFC 7946 gives a FeatureCollection, as far as MDS documents use it."""

_FILES: dict[Document, str] = {
    "policies": "policy.json",
    "geographies": "geographies.json",
    "geography": "geography.json",
}


@functools.cache
def _schema_1_2(document: Document) -> dict[str, Any]:
    text = resources.files("pilotzone.zones.mds").joinpath("schemas", _FILES[document]).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _as_2_0(schema: dict[str, Any]) -> dict[str, Any]:
    """The 1.2.0 schema with MDS 2.0's changes to the fields this package reads and writes."""
    schema = copy.deepcopy(schema)
    definitions = schema["definitions"]
    definitions["version"]["pattern"] = r"^2\.0\.[0-9]+$"
    if "vehicle_type" in definitions:
        definitions["vehicle_type"]["enum"] = list(MDS_2_0_VEHICLE_TYPES)
        definitions["vehicle_state"]["enum"] = list(MDS_2_0_VEHICLE_STATES)
        definitions["vehicle_event"]["enum"] = sorted(
            {*definitions["vehicle_event"]["enum"], *MDS_2_0_EXTRA_EVENTS}
        )
        rule_type = definitions["rule"]["properties"]["rule_type"]
        rule_type["enum"] = [t for t in rule_type["enum"] if t != "rate"]
        definitions["rule"]["properties"]["rule_units"]["enum"].remove("amount")
        definitions["policy"]["properties"]["mode_id"] = {"type": "string"}
    return schema


@functools.cache
def _validator(document: Document, version: str) -> Draft6Validator:
    schema = _schema_1_2(document)
    if version.startswith("2."):
        schema = _as_2_0(schema)
    registry: Registry[Any] = Registry().with_resource(
        GEOJSON_FEATURE_COLLECTION_URI, Resource.from_contents(GEOJSON_FEATURE_COLLECTION, DRAFT6)
    )
    return Draft6Validator(schema, registry=registry)


def schema_errors(data: Any, document: Document, version: str) -> list[str]:
    """Every way ``data`` breaks the MDS schema of ``version`` (``1.2.x`` or ``2.0.x``), one
    line each (``data.policies[0].rules[1].maximum: ...``), sorted by where they are."""
    lines = []
    for error in _validator(document, version).iter_errors(data):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        lines.append(f"{path or '(document)'}: {message}")
    return sorted(set(lines))


__all__ = [
    "GEOJSON_FEATURE_COLLECTION",
    "MDS_2_0_VEHICLE_STATES",
    "MDS_2_0_VEHICLE_TYPES",
    "Document",
    "schema_errors",
]
