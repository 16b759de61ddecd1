"""The MDS material the tests read: the spec's examples and mds-core's fixtures (see tests/data).

mds-core keeps its Los Angeles geographies as plain GeoJSON and names them by id in its
fixtures; ``la_geographies`` puts them together as MDS geography objects (a bare list, as
mds-core's own CLI fixture is, so it is read with ``lenient``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from pilotzone.zones.mds.units import DEFAULT_VEHICLE_CLASSES
from pilotzone.zones.model import VehicleClass

DATA = Path(__file__).parents[2] / "data"
SPEC_EXAMPLES = DATA / "mds" / "policy-examples-1.2.0"
MDS_CORE = DATA / "mds-core"

MICROMOBILITY_AS_OTHER = {
    **DEFAULT_VEHICLE_CLASSES,
    "bicycle": (VehicleClass.OTHER,),
    "scooter": (VehicleClass.OTHER,),
}
"""The examples regulate bicycles and scooters; the tests read them as class OTHER."""


@functools.cache
def fixtures() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MDS_CORE / "fixtures.json").read_text("utf-8"))
    return data


def fixture_policies() -> dict[str, dict[str, Any]]:
    """mds-core's fixture policies by fixture name."""
    return {k: v for k, v in fixtures().items() if isinstance(v, dict) and "rules" in v}


def _collection(reference: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in reference:
        data: dict[str, Any] = json.loads((MDS_CORE / reference["$ref"]).read_text("utf-8"))
        return data
    return reference


@functools.cache
def la_geographies() -> list[dict[str, Any]]:
    """mds-core's test geographies as MDS geography objects (no published_date: lenient)."""
    f = fixtures()
    out = []
    for name in ("LA_GEOGRAPHY", "RESTRICTED_GEOGRAPHY", "INNER_GEO", "OUTER_GEO", "TANZANIA_GEO"):
        geography = f[name]
        out.append({**geography, "geography_json": _collection(geography["geography_json"])})
    beach = json.loads((MDS_CORE / "geographies" / "restricted-areas.geojson").read_text("utf-8"))
    out.append(
        {
            "name": "la beach",
            "geography_id": f["LA_BEACH"],
            "geography_json": {"type": "FeatureCollection", "features": [beach["features"][0]]},
        }
    )
    return out
