"""What a pilot zone is and what its rules mean, in pure Python (no Apache Beam).

- ``zones.model``: the zone config YAML schema as pydantic models;
- ``zones.kinds``: one module per rule kind (its model, condition, peak, grace, phrases),
  found through the ``KINDS`` registry;
- ``zones.zone``: ``Zone`` and ``Area``, a loaded zone as an immutable value;
- ``zones.loader``: YAML to a validated ``Zone`` with resolved, checked geometry, reporting
  every problem of every file at once (``ZoneConfigError``), with its helpers
  ``zones.yaml_source`` (YAML and the line of each field), ``zones.error_messages`` (schema
  errors in words for the editor), ``zones.geometry_sources`` and ``zones.geometry``
  (GeoJSON reading, polygon checks, repair and merging, areas on the sphere) and
  ``zones.version`` (content hash);
- ``zones.index``: vectorised boundary and area lookups for batches of samples;
- ``zones.compiled``: a zone's lookups (area index, rule precedence tables) built once
  (``compile_zone``);
- ``zones.rules``: which rule of each kind is in force at a place and time (inner areas
  override outer ones) and why;
- ``zones.evaluate``: rule evaluation on numpy columns, samples in, incidents and window
  summaries out;
- ``pilotzone.geo``: small-distance geodesy on lon/lat arrays.

Shipped zone configs live in ``zones/configs`` (``SHIPPED_CONFIGS``), their geometry in
``zones/data``. The pipeline, the simulator and the CLI all read zones through this package,
so a config means the same thing everywhere.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from pilotzone.zones.compiled import CompiledZone, area_index, compile_zone
from pilotzone.zones.geometry import geodesic_area_m2
from pilotzone.zones.index import AreaIndex
from pilotzone.zones.loader import load_zone, load_zones
from pilotzone.zones.model import (
    RULE_KINDS,
    AreaKind,
    DrivingMode,
    EventKind,
    Initiator,
    Rule,
    Severity,
    TimeWindow,
    VehicleClass,
    ZoneConfig,
)
from pilotzone.zones.problems import ConfigProblem, ZoneConfigError
from pilotzone.zones.rules import (
    INDEPENDENT_KINDS,
    OVERRIDING_KINDS,
    AppliedRule,
    independent_rules,
    rules_at,
    schedule_contains,
    winning_rule,
)
from pilotzone.zones.zone import Area, Zone

SHIPPED_CONFIGS = Path(str(importlib.resources.files("pilotzone.zones") / "configs"))
"""Folder of the zone configs shipped with the package (Gwangju, Seoul Gangnam-gu, Sejong)."""

__all__ = [
    "INDEPENDENT_KINDS",
    "OVERRIDING_KINDS",
    "RULE_KINDS",
    "SHIPPED_CONFIGS",
    "AppliedRule",
    "Area",
    "AreaIndex",
    "AreaKind",
    "CompiledZone",
    "ConfigProblem",
    "DrivingMode",
    "EventKind",
    "Initiator",
    "Rule",
    "Severity",
    "TimeWindow",
    "VehicleClass",
    "Zone",
    "ZoneConfig",
    "ZoneConfigError",
    "area_index",
    "compile_zone",
    "geodesic_area_m2",
    "independent_rules",
    "load_zone",
    "load_zones",
    "rules_at",
    "schedule_contains",
    "winning_rule",
]
