"""Loading the project's Avro schemas from the ``.avsc`` files shipped beside this module.

The ``.avsc`` files are the source of truth; code never restates a field list. Parsed
schemas are cached because fastavro's parsing is not free and every decode needs one.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from pathlib import Path
from typing import Any, cast

import fastavro

SCHEMA_DIR = Path(str(importlib.resources.files("pilotzone.schemas") / "avro"))
"""Folder of the current ``.avsc`` files (package data, wherever the package is installed)."""

HISTORY_DIR = SCHEMA_DIR / "history"
"""Every published version of each schema, ``<name>/v<N>.avsc``, for evolution checks and
for resolving data written with an older version."""

TELEMETRY = "telemetry_sample"
INCIDENT = "incident"


@functools.cache
def schema_json(name: str) -> str:
    """The raw JSON text of a current schema, as published to a schema registry."""
    return (SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8")


def schema_dict(name: str) -> dict[str, Any]:
    """A fresh, unparsed copy of a current schema (callers may modify it)."""
    loaded: dict[str, Any] = json.loads(schema_json(name))
    return loaded


@functools.cache
def parsed_schema(name: str) -> dict[str, Any]:
    """A current schema parsed by fastavro, ready for readers and writers (do not modify)."""
    return cast(dict[str, Any], fastavro.parse_schema(schema_dict(name)))


def schema_version(name: str) -> int:
    """The version number a current schema declares in ``pilotzone.schema_version``."""
    return int(schema_dict(name)["pilotzone.schema_version"])


def telemetry_schema() -> dict[str, Any]:
    """The current telemetry sample schema, parsed."""
    return parsed_schema(TELEMETRY)


def incident_schema() -> dict[str, Any]:
    """The current incident schema, parsed."""
    return parsed_schema(INCIDENT)


@functools.cache
def writer_schema(name: str) -> dict[str, Any]:
    """A current schema parsed for writing container files, with its keys in sorted order.

    fastavro copies some field properties through a set while parsing, so the header JSON it
    writes (the parsed schema, dumped) would list them in an order that changes from process
    to process with Python's string hashing: the same records, different bytes. Sorting the
    keys makes files written from the same records byte-identical, as replay audits expect.
    """

    def canonical(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: canonical(node[key]) for key in sorted(node)}
        if isinstance(node, list):
            return [canonical(item) for item in node]
        return node

    return cast(dict[str, Any], canonical(parsed_schema(name)))
