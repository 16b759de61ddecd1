"""Turning a config's geometry fields into checked polygons, with a problem for each defect.

A boundary or an area is either inline GeoJSON (a Geometry or a Feature) or a
``GeometrySource`` that picks features out of a GeoJSON file next to the config. The
resolver reads each source, checks each polygon (type, emptiness, coordinate order and
range, validity) and merges several features into one geometry. An invalid polygon is
refused unless repair was asked for, because a silently repaired boundary is a boundary
nobody reviewed.

Files are read by ``zones.geojson_files`` (only regular GeoJSON files of bounded size under
the config's geometry root); a message quotes property values only from a file that is
GeoJSON, and cuts them short.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from pilotzone.zones.error_messages import explain_error
from pilotzone.zones.geojson_files import GeoJsonFiles
from pilotzone.zones.geometry import (
    as_polygonal,
    coordinate_range_problem,
    merge,
    repair,
    validity_reason,
)
from pilotzone.zones.limits import (
    MAX_AREAS,
)
from pilotzone.zones.model import GeometrySource
from pilotzone.zones.problems import ConfigProblem
from pilotzone.zones.yaml_source import FieldPath, YamlDocument
from pilotzone.zones.zone import Polygonal

REPAIR_HINT = (
    "fix the polygon in the source data, or load with --repair-geometry (repair_geometry=True) "
    "to repair it with shapely.make_valid and review the result"
)

GeometryField = tuple[str | int, ...]
"""Path of a geometry field in the config: ``("boundary",)`` or ``("areas", 3, "geometry")``."""


@dataclass
class _Part:
    """One polygon that goes into a resolved geometry, with where it came from."""

    geometry: BaseGeometry
    config_path: FieldPath  # the boundary or area geometry field it resolves
    file: Path
    location: str  # location of the polygon inside ``file``
    label: str  # how to name it in a message about the config location


class GeometryResolver:
    """Resolves the boundary and area geometries of one parsed config file.

    Problems go to ``problems`` (shared with the rest of the file's checks, so they stay in
    file order); geometries repaired with ``repair_geometry`` are listed in ``repaired``.
    """

    def __init__(
        self,
        document: YamlDocument,
        geojson_files: GeoJsonFiles,
        problems: list[ConfigProblem],
        *,
        repair_geometry: bool,
    ) -> None:
        self.document = document
        self.geojson_files = geojson_files
        self.problems = problems
        self.repair_geometry = repair_geometry
        self.repaired: list[str] = []

    def resolve_all(self) -> dict[GeometryField, Polygonal]:
        """Every geometry field of the config that resolves to a usable polygon."""
        resolved: dict[GeometryField, Polygonal] = {}
        targets: list[GeometryField] = [("boundary",)]
        areas = self.document.value_at(["areas"])
        # Beyond the cap the schema check reports the count; checking every polygon too would
        # only make a hostile config cost more.
        if isinstance(areas, list) and len(areas) <= MAX_AREAS:
            targets.extend(
                ("areas", index, "geometry") for index, area in enumerate(areas) if isinstance(area, dict)
            )
        for path in targets:
            value = self.document.value_at(path)
            if not isinstance(value, dict):
                continue  # missing or not a mapping: the schema check has reported it
            geometry = self._resolve(value, path)
            if geometry is not None:
                resolved[path] = geometry
        return resolved

    def resolve_field(self, path: GeometryField) -> Polygonal | None:
        """One geometry field of any document read this way (a fence's ``polygon``), or None
        with its problems reported."""
        value = self.document.value_at(path)
        if not isinstance(value, dict):
            return None  # missing or not a mapping: the schema check has reported it
        return self._resolve(value, path)

    def _report(self, path: FieldPath, message: str) -> None:
        self.problems.append(self.document.problem(path, message))

    def _resolve(self, value: dict[str, Any], path: FieldPath) -> Polygonal | None:
        field_name = self.document.describe(path)
        if "type" in value:
            parts = self._inline_parts(value, path)
        elif "file" in value or "where" in value:
            parts = self._file_parts(value, path)
        else:
            self._report(
                path,
                "expected a GeoJSON Geometry or Feature (with 'type') or a geometry source "
                "{file: some.geojson, where: {property: value}}",
            )
            return None
        if parts is None:
            return None
        checked: list[BaseGeometry] = []
        for part in parts:
            polygon = self._check_polygon(part, field_name)
            if polygon is not None:
                checked.append(polygon)
        if len(checked) != len(parts):
            return None
        geometry = merge(checked) if len(checked) > 1 else checked[0]
        return as_polygonal(geometry)

    def _inline_parts(self, value: dict[str, Any], path: FieldPath) -> list[_Part] | None:
        kind = value.get("type")
        geometry: Any = value
        if kind == "Feature":
            geometry = value.get("geometry")
            if not isinstance(geometry, dict):
                self._report(
                    [*path, "geometry"],
                    "the Feature has no geometry object: add one (a Polygon or MultiPolygon)",
                )
                return None
        elif kind == "FeatureCollection":
            self._report(
                path,
                "inline FeatureCollections are not accepted: put the features in a GeoJSON file and "
                "use {file: ..., where: {...}}, or give a single Polygon/MultiPolygon",
            )
            return None
        parsed = self._shape(geometry, path)
        if parsed is None:
            return None
        return [_Part(parsed, path, self.document.path, self.document.describe(path), "")]

    def _file_parts(self, value: dict[str, Any], path: FieldPath) -> list[_Part] | None:
        try:
            source = GeometrySource.model_validate(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                error_path = [*path, *(part for part in error["loc"])]
                self._report(error_path, explain_error(error, error_path, self.document.data))
            return None
        shown = self.document.path.parent / source.file  # source.file itself if it is absolute
        features = self.geojson_files.features(shown, self.geojson_files.root_for(self.document.path))
        if isinstance(features, ConfigProblem) and not features.file:
            self._report([*path, "file"], f"geometry file {shown} refused: {features.message}")
            return None
        if features is None:
            self._report(
                [*path, "file"], f"geometry file {shown} not found (paths are relative to the zone config)"
            )
            return None
        if isinstance(features, ConfigProblem):
            if self.geojson_files.first_report(shown):
                self.problems.append(features)
            return None
        matches = [
            (index, feature)
            for index, feature in enumerate(features)
            if all(str(_properties(feature).get(key)) == wanted for key, wanted in source.where.items())
        ]
        if not matches:
            self._report([*path, "where"], _no_match_message(shown, features, source.where))
            return None
        parts: list[_Part] = []
        for index, feature in matches:
            label = ", ".join(f"{key}={_properties(feature).get(key)}" for key in source.where) or "no filter"
            location = f"features[{index}] ({label})"
            geometry = feature.get("geometry")
            if not isinstance(geometry, dict):
                self.problems.append(ConfigProblem(str(shown), location, "feature has no geometry"))
                return None
            parsed = self._shape(geometry, path, file=shown, location=location)
            if parsed is None:
                return None
            parts.append(_Part(parsed, path, shown, location, f"{shown} {location}"))
        return parts

    def _shape(
        self, geometry: Any, path: FieldPath, *, file: Path | None = None, location: str = ""
    ) -> BaseGeometry | None:
        try:
            return shape(geometry)
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            OverflowError,
            ShapelyError,
        ) as exc:
            message = f"not a readable GeoJSON geometry ({type(exc).__name__}: {exc}): check 'type' and 'coordinates'"
            if file is None:
                self._report(path, message)
            else:
                self.problems.append(ConfigProblem(str(file), location, message))
            return None

    def _check_polygon(self, part: _Part, used_for: str) -> BaseGeometry | None:
        """The part if it is a usable polygon (repaired if allowed), else None with a problem."""
        geometry = part.geometry
        config_file = self.document.path
        used = f" (used for {used_for} in {config_file.name})" if part.file != config_file else ""

        def problem(message: str) -> None:
            if part.file == config_file:
                self._report(part.config_path, message)
            else:
                self.problems.append(ConfigProblem(str(part.file), part.location, message + used))

        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            problem(
                f"geometry is a {geometry.geom_type}: boundaries and areas must be a Polygon or MultiPolygon"
            )
            return None
        if geometry.is_empty:
            problem("geometry is empty: give at least one polygon with coordinates")
            return None
        range_message = coordinate_range_problem(geometry)
        if range_message:
            problem(range_message)
            return None
        if geometry.is_valid:
            return geometry
        reason = validity_reason(geometry)
        if not self.repair_geometry:
            problem(f"invalid polygon: {reason}: {REPAIR_HINT}")
            return None
        repaired = repair(geometry)
        if repaired is None:
            problem(
                f"invalid polygon: {reason}, and repairing it leaves no area: fix the polygon in the source data"
            )
            return None
        source = f" ({part.label})" if part.label else ""
        self.repaired.append(f"{used_for}{source}: {reason}; repaired with make_valid")
        return repaired


def _properties(feature: Mapping[str, Any]) -> dict[str, Any]:
    properties = feature.get("properties")
    return properties if isinstance(properties, dict) else {}


def _no_match_message(file: Path, features: list[dict[str, Any]], where: Mapping[str, str]) -> str:
    condition = " and ".join(f"{key} = {value!r}" for key, value in where.items()) or "(no filter)"
    message = f"no feature of {len(features)} in {file} has {condition}"
    for key, wanted in where.items():
        values = sorted({str(_properties(f).get(key)) for f in features if key in _properties(f)})
        if not values:
            names = sorted({name for f in features for name in _properties(f)})
            listed = ", ".join(_cut(name) for name in names[:10])
            return f"{message}; no feature has a property {key!r} (properties there: {listed})"
        if wanted not in values:
            # Hints only among short values: a megabyte-long property is no one's typo.
            candidates = [value for value in values if len(value) <= MAX_HINT_CHARS][:MAX_HINT_CANDIDATES]
            close = difflib.get_close_matches(wanted, candidates, n=3)
            shown = close or values[:5]
            return f"{message}; {key} values there include {', '.join(_brief(v) for v in shown)}: fix the where: filter"
    return message + ": fix the where: filter"


MAX_HINT_CHARS = 80
"""Longest property value or name quoted in a message (longer ones are cut with an ellipsis)."""

MAX_HINT_CANDIDATES = 10_000
"""Property values compared with a ``where:`` value to suggest the nearest (difflib is quadratic-ish)."""


def _brief(value: str) -> str:
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_HINT_CHARS else text[: MAX_HINT_CHARS - 1] + "…"


__all__ = ["REPAIR_HINT", "GeoJsonFiles", "GeometryField", "GeometryResolver"]
