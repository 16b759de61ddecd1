"""The .avsc files: parseable by both Avro implementations, versioned, and evolving FULL_TRANSITIVE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import avro.schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from pilotzone.schemas.contract import (
    HISTORY_DIR,
    INCIDENT,
    SCHEMA_DIR,
    TELEMETRY,
    schema_dict,
    schema_version,
)

SCHEMAS = (TELEMETRY, INCIDENT)


def _compatible(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    """Apache Avro's own reader/writer compatibility checker (not a hand-written one)."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    return result.compatibility is SchemaCompatibilityType.compatible


def full_transitive_violations(versions: list[dict[str, Any]]) -> list[str]:
    """Pairs of versions that cannot read each other's data, in either direction.

    FULL_TRANSITIVE: every version reads data of every other version, older or newer, which
    is what replaying months of stored telemetry through today's pipeline requires.
    """
    problems = []
    for i, older in enumerate(versions):
        for j in range(i + 1, len(versions)):
            newer = versions[j]
            if not _compatible(newer, older):
                problems.append(f"v{j + 1} cannot read v{i + 1} data (backward)")
            if not _compatible(older, newer):
                problems.append(f"v{i + 1} cannot read v{j + 1} data (forward)")
    return problems


def _history(name: str) -> list[dict[str, Any]]:
    paths = sorted((HISTORY_DIR / name).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    return [json.loads(p.read_text()) for p in paths]


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_parses_in_fastavro_and_apache_avro(name: str) -> None:
    text = (SCHEMA_DIR / f"{name}.avsc").read_text()
    assert fastavro.parse_schema(json.loads(text))["type"] == "record"
    assert avro.schema.parse(text).type == "record"


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_has_namespace_and_version_and_latest_history_is_current(name: str) -> None:
    current = schema_dict(name)
    assert current["namespace"].startswith("kr.pilotzone.")
    history = _history(name)
    assert schema_version(name) == len(history)
    assert history[-1] == current


@pytest.mark.parametrize("name", SCHEMAS)
def test_published_history_is_full_transitive(name: str) -> None:
    assert full_transitive_violations(_history(name)) == []


def test_telemetry_fields_are_exactly_the_contract_and_carry_no_personal_data() -> None:
    names = [f["name"] for f in schema_dict(TELEMETRY)["fields"]]
    assert names == [
        "vehicle_id",
        "operator_id",
        "vehicle_class",
        "sequence_number",
        "current_location_timestamp",
        "current_location_latitude",
        "current_location_longitude",
        "current_location_altitude",
        "current_location_heading",
        "current_location_horizontal_accuracy",
        "speed",
        "driving_mode",
        "active_autonomy_level",
        "events",
    ]
    every_doc = " ".join(f.get("doc", "") for f in schema_dict(TELEMETRY)["fields"])
    for unit in ("degrees", "metres", "km/h", "milliseconds"):
        assert unit in every_doc


def _with_field(schema: dict[str, Any], new_field: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "fields": [*schema["fields"], new_field]}


def test_evolution_adding_an_optional_field_and_an_enum_symbol_is_accepted() -> None:
    v1 = schema_dict(TELEMETRY)
    v2 = _with_field(
        v1,
        {"name": "battery_state_of_charge", "type": ["null", "float"], "default": None, "doc": "percent"},
    )
    vehicle_class = next(f for f in v2["fields"] if f["name"] == "vehicle_class")
    vehicle_class["type"] = {
        **vehicle_class["type"],
        "symbols": [*vehicle_class["type"]["symbols"], "TRACTOR"],
    }
    assert full_transitive_violations([v1, v2]) == []


def test_evolution_adding_a_required_field_is_rejected_both_ways_it_breaks() -> None:
    v1 = schema_dict(TELEMETRY)
    v2 = _with_field(v1, {"name": "odometer_km", "type": "double"})
    assert full_transitive_violations([v1, v2]) == ["v2 cannot read v1 data (backward)"]


def test_evolution_changing_a_field_type_is_rejected() -> None:
    v1 = schema_dict(TELEMETRY)
    v2 = {**v1, "fields": [dict(f, type="string") if f["name"] == "speed" else f for f in v1["fields"]]}
    assert full_transitive_violations([v1, v2]) == [
        "v2 cannot read v1 data (backward)",
        "v1 cannot read v2 data (forward)",
    ]


def test_transitive_check_catches_a_break_across_non_adjacent_versions() -> None:
    v1 = schema_dict(TELEMETRY)
    # v2 drops a field that has a default (fine next to v1); v3 re-adds it with another type.
    v2 = {**v1, "fields": [f for f in v1["fields"] if f["name"] != "current_location_altitude"]}
    v3 = _with_field(v2, {"name": "current_location_altitude", "type": ["null", "string"], "default": None})
    assert full_transitive_violations([v1, v2]) == []
    assert full_transitive_violations([v2, v3]) == []
    assert full_transitive_violations([v1, v2, v3]) == [
        "v3 cannot read v1 data (backward)",
        "v1 cannot read v3 data (forward)",
    ]


def test_registry_file_points_at_published_versions() -> None:
    registry = json.loads((SCHEMA_DIR / "registry.json").read_text())
    for relative in registry.values():
        assert (HISTORY_DIR / Path(relative)).is_file()


def test_container_bytes_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """fastavro parses some properties through a set; ``writer_schema`` keeps files byte-identical."""
    import os
    import subprocess
    import sys

    script = (
        "import sys; from tests.factories import container_bytes, track; "
        "sys.stdout.buffer.write(container_bytes(track(3)))"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=Path(__file__).resolve().parents[2],
        ).stdout
        for seed in ("1", "2", "3")
    ]
    assert outputs[0][:4] == b"Obj\x01"
    assert outputs[0] == outputs[1] == outputs[2]
