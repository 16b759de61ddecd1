"""Reading zone configs: YAML in, a validated ``Zone`` with resolved geometry out.

A zone config is written by people and read by a regulator, so the loader's job is as much
to explain a bad config as to load a good one: it collects every problem it can find in one
pass (YAML syntax, schema, cross-references, geometry) across every file it is given and
raises them together in one ``ZoneConfigError``, each with the file, the field and what to
change. Nothing is loaded half-way: a ``Zone`` exists only for a config without problems.

Geometry is either inline GeoJSON (a Geometry or a Feature) or a ``GeometrySource`` that
picks features out of a GeoJSON file next to the config. Real municipal polygons are not
always valid (self-intersecting rings, nested shells); the loader refuses them unless asked
to repair them, because a silently repaired boundary is a boundary nobody reviewed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import numpy as np
import shapely
import yaml
from pydantic import BaseModel, ValidationError
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from pilotzone import geo
from pilotzone.zones.kinds import RULE_MODELS
from pilotzone.zones.model import RULE_KINDS, AreaKind, GeometrySource, Rule, ZoneConfig
from pilotzone.zones.rules import precedence_ties

T = TypeVar("T")

Polygonal: TypeAlias = shapely.Polygon | shapely.MultiPolygon
"""The only geometry types a boundary or an area may have."""

GAP_CLOSING_DEG = 1e-4
"""Half-width of the gaps closed when several features are merged (about 9-11 m in Korea).

National boundary files are simplified district by district, so two neighbouring districts
no longer share their border exactly: merging them leaves slivers and pinholes along the
old border. A vehicle driving along that border would then be "outside the boundary" for a
few samples and raise a false leave_boundary incident. A morphological closing (buffer out,
then back in, with mitre joins so corners stay sharp) fills gaps up to about twice this
width and leaves the outer edge in place; real gaps between the parts of a zone are far
wider than 20 m.
"""

SMALL_HOLE_M2 = 10_000.0
"""Holes smaller than this (one hectare) left inside a merged geometry are filled.

The closing removes narrow gaps; this removes compact ones. A genuine hole in a zone (a
municipality that surrounds another one) is square kilometres, not a hectare.
"""

YAML_SUFFIXES = (".yaml", ".yml")

# Tags pydantic inserts into an error location for union members; they are not YAML keys.
_UNION_TAGS = frozenset({*RULE_KINDS, "GeometrySource", "dict[str,any]"})
_REPAIR_HINT = (
    "fix the polygon in the source data, or load with --repair-geometry (repair_geometry=True) "
    "to repair it with shapely.make_valid and review the result"
)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a zone config, located precisely enough to fix it.

    ``line`` is the 1-based line in ``file`` when it is known (YAML errors and fields that
    exist in the YAML); a missing field has the line of the mapping it is missing from.
    """

    file: str
    location: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.location}: {self.message}" if self.location else f"{where}: {self.message}"


class ZoneConfigError(ValueError):
    """Zone configs that cannot be loaded; ``problems`` holds every problem found, in file order."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class Area:
    """A named sub-area of a zone with its resolved geometry (lon/lat degrees)."""

    id: str
    name: str
    kind: AreaKind
    geometry: Polygonal
    area_m2: float
    """Area on the sphere in square metres; rule precedence uses it (innermost = smallest)."""


@dataclass(frozen=True, eq=False)
class Zone:
    """A loaded zone: its validated config with every geometry resolved and checked.

    Zones compare and hash by identity (``eq=False``), so they can key caches; ``version``
    identifies the content.
    """

    config: ZoneConfig
    boundary: Polygonal
    areas: dict[str, Area]
    version: str
    """``sha256:`` and 16 hex digits of the canonical config with resolved geometry: the same
    for the same rules and shapes however the YAML is formatted, different after any change."""
    source: Path
    repaired: tuple[str, ...] = ()
    """Geometries repaired on load (only with ``repair_geometry=True``), with the defect."""
    warnings: tuple[str, ...] = ()
    """Legal but suspicious things: an area partly outside the boundary, two rules tied on
    precedence so that only their ids decide between them."""
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def zone_id(self) -> str:
        """The config's ``zone_id``."""
        return self.config.zone_id

    @property
    def rules(self) -> list[Rule]:
        """Every rule, in config order."""
        return list(self.config.rules)

    def __getstate__(self) -> dict[str, Any]:
        # Pipelines ship zones to workers by pickling; derived lookups are rebuilt there.
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """A value derived from this zone, computed once per key (rule candidates, indexes).

        The zone is immutable, so anything computed from it stays valid; ``zones.rules`` and
        ``zones.index`` keep their lookups here rather than in module-level caches that
        would keep zones alive.
        """
        try:
            value: T = self._cache[key]
        except KeyError:
            value = self._cache[key] = compute()
        return value

    def rules_of_kind(self, kind: str) -> list[Rule]:
        """The rules of one kind (``speed_limit`` ...), in config order."""
        if kind not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {kind!r}: expected one of {', '.join(RULE_KINDS)}")
        of_kind = self.cached(
            ("rules_of_kind", kind), lambda: [r for r in self.config.rules if r.kind == kind]
        )
        return list(of_kind)


def load_zone(path: str | Path, *, repair_geometry: bool = False) -> Zone:
    """Load one zone config file; raise ``ZoneConfigError`` with every problem if it is bad."""
    path = Path(path)
    if path.is_dir():
        raise ZoneConfigError(
            [ConfigProblem(str(path), "", "is a folder: pass a YAML file, or use load_zones")]
        )
    return load_zones([path], repair_geometry=repair_geometry)[0]


def load_zones(paths: Iterable[str | Path], *, repair_geometry: bool = False) -> list[Zone]:
    """Load zone config files and folders (their ``*.yaml``/``*.yml`` files, sorted).

    Every file is checked even after a bad one, so one run reports all problems; duplicate
    zone ids across files are a problem too. Raises ``ZoneConfigError`` if anything is wrong.
    """
    problems: list[ConfigProblem] = []
    geojson_files = _GeoJsonFiles()
    zones: list[Zone] = []
    first_file_of: dict[str, Path] = {}
    for file in _expand(paths):
        if isinstance(file, ConfigProblem):
            problems.append(file)
            continue
        zone, file_problems = _FileLoader(file, geojson_files, repair_geometry).load()
        problems.extend(file_problems)
        if zone is None:
            continue
        if zone.zone_id in first_file_of:
            problems.append(
                ConfigProblem(
                    str(file),
                    "zone_id",
                    f"zone_id {zone.zone_id!r} is also used by {first_file_of[zone.zone_id]}: "
                    "every zone needs its own id",
                )
            )
            continue
        first_file_of[zone.zone_id] = file
        zones.append(zone)
    if problems:
        raise ZoneConfigError(problems)
    return zones


def geodesic_area_m2(geometry: BaseGeometry) -> float:
    """Area in square metres of a lon/lat geometry on the mean-radius sphere.

    The sinusoidal projection is equal-area, so the planar area after projecting is the
    spherical area; the central meridian is put at the geometry to keep shapes compact.
    """
    if geometry.is_empty:
        return 0.0
    lon0 = (geometry.bounds[0] + geometry.bounds[2]) / 2
    per_deg = math.pi * geo.EARTH_RADIUS_M / 180.0

    def sinusoidal(coords: np.ndarray) -> np.ndarray:
        lon, lat = coords[:, 0], coords[:, 1]
        return np.column_stack(((lon - lon0) * per_deg * np.cos(np.radians(lat)), lat * per_deg))

    return float(shapely.area(shapely.transform(geometry, sinusoidal)))


def geometry_version(geometry: BaseGeometry) -> str:
    """A short digest of a geometry's exact shape, independent of ring start and orientation."""
    return hashlib.sha256(shapely.to_wkb(shapely.normalize(geometry))).hexdigest()[:16]


# --- files -------------------------------------------------------------------------------


def _expand(paths: Iterable[str | Path]) -> list[Path | ConfigProblem]:
    """The config files to load, in argument order, with a problem for each unusable path."""
    files: list[Path | ConfigProblem] = []
    for raw_path in paths:
        path = Path(raw_path)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())
            if not found:
                files.append(ConfigProblem(str(path), "", "folder has no *.yaml or *.yml zone configs"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            files.append(ConfigProblem(str(path), "", "no such file or folder"))
    if not files:
        files.append(ConfigProblem("", "", "no zone config files given"))
    return files


class _ConfigYamlLoader(yaml.SafeLoader):
    """YAML with the 1.2 core scalars: ``22:00`` stays text, ``on``/``no`` stay text.

    PyYAML follows YAML 1.1, where ``22:00`` is the base-60 integer 1320 and ``no`` is
    ``false``; in a file full of clock times and short ids that is a trap.
    """


_ConfigYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] not in {"bool", "int", "float"}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_ConfigYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F]+|0o[0-7]+)$"),
    list("-+0123456789"),
)
_ConfigYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*\.[0-9_]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _GeoJsonFiles:
    """GeoJSON files read once per ``load_zones`` call (a city's districts feed many areas).

    A file that cannot be read is reported once, however many geometries use it.
    """

    def __init__(self) -> None:
        self._features: dict[Path, list[dict[str, Any]] | ConfigProblem | None] = {}
        self._reported: set[Path] = set()

    def features(self, path: Path) -> list[dict[str, Any]] | ConfigProblem | None:
        """The file's features; None if it does not exist; a problem if it is not usable GeoJSON."""
        key = path.resolve()
        if key not in self._features:
            self._features[key] = self._read(path)
        return self._features[key]

    def first_report(self, path: Path) -> bool:
        """True the first time a problem with this file is about to be reported."""
        key = path.resolve()
        first = key not in self._reported
        self._reported.add(key)
        return first

    @staticmethod
    def _read(path: Path) -> list[dict[str, Any]] | ConfigProblem | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except OSError as exc:
            return ConfigProblem(str(path), "", f"cannot read geometry file: {exc.strerror}")
        except UnicodeDecodeError:
            return ConfigProblem(str(path), "", "geometry file is not UTF-8 text: save it as UTF-8 GeoJSON")
        except json.JSONDecodeError as exc:
            return ConfigProblem(
                str(path), f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
            )
        if (
            isinstance(data, dict)
            and data.get("type") == "FeatureCollection"
            and isinstance(data.get("features"), list)
        ):
            return [f for f in data["features"] if isinstance(f, dict)]
        if isinstance(data, dict) and data.get("type") == "Feature":
            return [data]
        return ConfigProblem(str(path), "", "expected a GeoJSON FeatureCollection or Feature")


# --- one config file ---------------------------------------------------------------------


@dataclass
class _Part:
    """One polygon that goes into a resolved geometry, with where it came from."""

    geometry: BaseGeometry
    config_path: Sequence[str | int]  # the boundary or area geometry field it resolves
    file: Path
    location: str  # location of the polygon inside ``file``
    label: str  # how to name it in a message about the config location


class _FileLoader:
    """Loads one YAML file, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, geojson_files: _GeoJsonFiles, repair_geometry: bool) -> None:
        self.path = path
        self.geojson_files = geojson_files
        self.repair_geometry = repair_geometry
        self.problems: list[ConfigProblem] = []
        self.repaired: list[str] = []
        self.raw: Any = None
        self.root: yaml.Node | None = None

    # reporting

    def report(self, path: Sequence[str | int], message: str) -> None:
        self.problems.append(
            ConfigProblem(str(self.path), describe_path(path, self.raw), message, _line_of(self.root, path))
        )

    # steps

    def load(self) -> tuple[Zone | None, list[ConfigProblem]]:
        if not self._parse():
            return None, self.problems
        config = self._validate()
        self._check_references()
        geometries = self._resolve_geometries()
        if config is None or self.problems:
            return None, self.problems
        boundary = geometries.get(("boundary",))
        if boundary is None:  # reported already
            return None, self.problems
        areas: dict[str, Area] = {}
        for index, area_config in enumerate(config.areas):
            geometry = geometries.get(("areas", index, "geometry"))
            if geometry is None:
                return None, self.problems
            areas[area_config.id] = Area(
                area_config.id, area_config.name, area_config.kind, geometry, geodesic_area_m2(geometry)
            )
        warnings = self._check_areas_in_boundary(boundary, areas)
        if self.problems:
            return None, self.problems
        warnings.extend(self._precedence_warnings(config))
        zone = Zone(
            config=config,
            boundary=boundary,
            areas=areas,
            version=_version(config, boundary, areas),
            source=self.path,
            repaired=tuple(self.repaired),
            warnings=tuple(warnings),
        )
        return zone, self.problems

    def _parse(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            self.problems.append(ConfigProblem(str(self.path), "", f"cannot read file: {exc.strerror}"))
            return False
        except UnicodeDecodeError:
            self.problems.append(
                ConfigProblem(str(self.path), "", "not UTF-8 text: save the config as UTF-8")
            )
            return False
        loader = _ConfigYamlLoader(text)
        try:
            self.root = loader.get_single_node()
            self.raw = loader.construct_document(self.root) if self.root is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            column = f", column {mark.column + 1}" if mark is not None else ""
            what = " ".join(part for part in (exc.context, exc.problem) if part)
            self.problems.append(
                ConfigProblem(
                    str(self.path),
                    f"line {line}{column}" if line is not None else "",
                    f"YAML syntax error: {what}; fix the YAML (check indentation, colons and quotes)",
                    line,
                )
            )
            return False
        except yaml.YAMLError as exc:
            self.problems.append(ConfigProblem(str(self.path), "", f"YAML error: {exc}"))
            return False
        finally:
            loader.dispose()
        if not isinstance(self.raw, dict):
            got = "an empty file" if self.raw is None else f"a {type(self.raw).__name__}"
            self.problems.append(
                ConfigProblem(
                    str(self.path),
                    "",
                    f"a zone config is a YAML mapping (zone_id: ..., rules: ...), got {got}",
                    1,
                )
            )
            return False
        self._check_duplicate_keys(self.root, [])
        return True

    def _check_duplicate_keys(self, node: yaml.Node | None, path: list[str | int]) -> None:
        # PyYAML keeps the last of two equal keys silently; a doubled limit_kmh must be seen.
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is None or key == "<<":
                    continue
                if key in seen:
                    self.problems.append(
                        ConfigProblem(
                            str(self.path),
                            describe_path([*path, key], self.raw),
                            f"key {key!r} appears twice (first on line {seen[key]}): YAML keeps only the last one, "
                            "delete one of them",
                            key_node.start_mark.line + 1,
                        )
                    )
                else:
                    seen[key] = key_node.start_mark.line + 1
                self._check_duplicate_keys(value_node, [*path, key])
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._check_duplicate_keys(item, [*path, index])

    def _validate(self) -> ZoneConfig | None:
        try:
            return ZoneConfig.model_validate(self.raw)
        except ValidationError as exc:
            reported: set[tuple[str, str]] = set()
            for error in exc.errors(include_url=False):
                path = _strip_union_tags(error["loc"], self.raw)
                message = _explain_error(error, path, self.raw)
                key = (describe_path(path, self.raw), message)
                if key not in reported:  # both members of a failed union say the same thing
                    reported.add(key)
                    self.report(path, message)
            return None

    def _check_references(self) -> None:
        raw = self.raw
        areas = raw.get("areas") if isinstance(raw.get("areas"), list) else []
        area_ids = _check_unique_ids(self, "areas", areas, "area")
        rules = raw.get("rules") if isinstance(raw.get("rules"), list) else []
        _check_unique_ids(self, "rules", rules, "rule")
        operators = raw.get("operators") if isinstance(raw.get("operators"), list) else []
        _check_unique_ids(self, "operators", operators, "operator")
        for index, rule in enumerate(rules):
            applies = rule.get("applies") if isinstance(rule, dict) else None
            referenced = applies.get("areas") if isinstance(applies, dict) else None
            if not isinstance(referenced, list):
                continue
            for position, area_id in enumerate(referenced):
                if isinstance(area_id, str) and area_id not in area_ids:
                    self.report(
                        ["rules", index, "applies", "areas", position],
                        _unknown_area_message(area_id, area_ids),
                    )

    # geometry

    def _resolve_geometries(self) -> dict[tuple[str | int, ...], Polygonal]:
        resolved: dict[tuple[str | int, ...], Polygonal] = {}
        targets: list[tuple[str | int, ...]] = [("boundary",)]
        areas = self.raw.get("areas")
        if isinstance(areas, list):
            targets.extend(
                ("areas", index, "geometry") for index, area in enumerate(areas) if isinstance(area, dict)
            )
        for path in targets:
            value = _get(self.raw, path)
            if not isinstance(value, dict):
                continue  # missing or not a mapping: the schema check has reported it
            geometry = self._resolve_geometry(value, path)
            if geometry is not None:
                resolved[path] = geometry
        return resolved

    def _resolve_geometry(self, value: dict[str, Any], path: Sequence[str | int]) -> Polygonal | None:
        field_name = describe_path(path, self.raw)
        if "type" in value:
            parts = self._inline_parts(value, path)
        elif "file" in value or "where" in value:
            parts = self._file_parts(value, path)
        else:
            self.report(
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
        geometry = _merge(checked) if len(checked) > 1 else checked[0]
        return _as_polygonal(geometry)

    def _inline_parts(self, value: dict[str, Any], path: Sequence[str | int]) -> list[_Part] | None:
        kind = value.get("type")
        geometry: Any = value
        if kind == "Feature":
            geometry = value.get("geometry")
            if not isinstance(geometry, dict):
                self.report(
                    [*path, "geometry"],
                    "the Feature has no geometry object: add one (a Polygon or MultiPolygon)",
                )
                return None
        elif kind == "FeatureCollection":
            self.report(
                path,
                "inline FeatureCollections are not accepted: put the features in a GeoJSON file and "
                "use {file: ..., where: {...}}, or give a single Polygon/MultiPolygon",
            )
            return None
        parsed = self._shape(geometry, path)
        if parsed is None:
            return None
        return [_Part(parsed, path, self.path, describe_path(path, self.raw), "")]

    def _file_parts(self, value: dict[str, Any], path: Sequence[str | int]) -> list[_Part] | None:
        try:
            source = GeometrySource.model_validate(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                error_path = [*path, *(part for part in error["loc"])]
                self.report(error_path, _explain_error(error, error_path, self.raw))
            return None
        shown = self.path.parent / source.file  # source.file itself if it is absolute
        features = self.geojson_files.features(shown)
        if features is None:
            self.report(
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
            self.report([*path, "where"], _no_match_message(shown, features, source.where))
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
        self, geometry: Any, path: Sequence[str | int], *, file: Path | None = None, location: str = ""
    ) -> BaseGeometry | None:
        try:
            return shape(geometry)
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            ShapelyError,
        ) as exc:
            message = f"not a readable GeoJSON geometry ({type(exc).__name__}: {exc}): check 'type' and 'coordinates'"
            if file is None:
                self.report(path, message)
            else:
                self.problems.append(ConfigProblem(str(file), location, message))
            return None

    def _check_polygon(self, part: _Part, used_for: str) -> BaseGeometry | None:
        """The part if it is a usable polygon (repaired if allowed), else None with a problem."""
        geometry = part.geometry
        used = f" (used for {used_for} in {self.path.name})" if part.file != self.path else ""

        def problem(message: str) -> None:
            if part.file == self.path:
                self.report(part.config_path, message)
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
        range_message = _coordinate_range_problem(geometry)
        if range_message:
            problem(range_message)
            return None
        if geometry.is_valid:
            return geometry
        reason = _validity_reason(geometry)
        if not self.repair_geometry:
            problem(f"invalid polygon: {reason}: {_REPAIR_HINT}")
            return None
        repaired = _repair(geometry)
        if repaired is None:
            problem(
                f"invalid polygon: {reason}, and repairing it leaves no area: fix the polygon in the source data"
            )
            return None
        source = f" ({part.label})" if part.label else ""
        self.repaired.append(f"{used_for}{source}: {reason}; repaired with make_valid")
        return repaired

    def _check_areas_in_boundary(self, boundary: Polygonal, areas: Mapping[str, Area]) -> list[str]:
        warnings: list[str] = []
        prepared = shapely.from_wkb(shapely.to_wkb(boundary))
        shapely.prepare(prepared)
        for index, area in enumerate(areas.values()):
            if shapely.covers(prepared, area.geometry):
                continue
            if not shapely.intersects(prepared, area.geometry):
                self.report(
                    ["areas", index, "geometry"],
                    f"area {area.id!r} lies entirely outside the zone boundary: check its coordinates "
                    "(GeoJSON is [longitude, latitude]) or remove it",
                )
                continue
            # Slivers from floating-point noding are not worth a warning; 1% of the area is.
            outside = geodesic_area_m2(area.geometry.difference(boundary))
            if outside > 0.01 * area.area_m2:
                warnings.append(
                    f"area {area.id!r} extends {outside / 1e6:.3f} km² ({100 * outside / area.area_m2:.0f}%) beyond "
                    "the zone boundary; rules scoped to it still apply out there"
                )
        return warnings

    @staticmethod
    def _precedence_warnings(config: ZoneConfig) -> list[str]:
        warnings = []
        for first, second, scope in precedence_ties(config.rules):
            warnings.append(
                f"{first.kind} rules {first.id!r} and {second.id!r} both apply {scope} to the same vehicles at "
                f"overlapping times with equal priority, so only rule-id order makes {first.id!r} win: give one "
                "an explicit priority or narrow its vehicle_classes or schedule"
            )
        return warnings


# --- helpers: locations and messages -----------------------------------------------------


def describe_path(path: Sequence[str | int], raw: Any) -> str:
    """A field path as people read it: ``rules[2] (speed-school).limit_kmh``.

    List items that carry an ``id`` are named by it as well as by position, because a
    position alone is hard to find in a long config.
    """
    text = ""
    node = raw
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            item = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                text += f" ({item['id']})"
            node = item
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text


def _strip_union_tags(loc: Sequence[str | int], raw: Any) -> list[str | int]:
    path: list[str | int] = []
    node = raw
    for part in loc:
        if isinstance(part, str) and part in _UNION_TAGS and not (isinstance(node, dict) and part in node):
            continue
        path.append(part)
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return path


def _get(raw: Any, path: Sequence[str | int]) -> Any:
    node = raw
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _line_of(root: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the field at ``path``: its key's line, or a list item's first line.

    For a missing field this is the line of the deepest part that exists (the mapping the
    field is missing from).
    """
    if root is None:
        return None
    node: yaml.Node = root
    line = int(root.start_mark.line)
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                    child, line = value_node, int(key_node.start_mark.line)
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = int(child.start_mark.line)
        if child is None:
            break
        node = child
    return line + 1


def _model_at(path: Sequence[str | int], raw: Any) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` (for field-name hints)."""
    model: type[BaseModel] | None = ZoneConfig
    for depth, part in enumerate(path):
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) if model is not None else None
        if info is None:
            return None
        candidates = _models_in(info.annotation)
        if len(candidates) == 1:
            model = candidates[0]
            continue
        # The rules list: each item's model is chosen by its kind.
        item = _get(raw, path[: depth + 2]) if depth + 1 < len(path) else None
        kind = item.get("kind") if isinstance(item, dict) else None
        model = RULE_MODELS.get(kind) if isinstance(kind, str) else None
    return model


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(model for model in _models_in(arg) if model not in found)
    return found


def _field_hint(path: Sequence[str | int], raw: Any) -> str:
    """For an unknown key: the nearest known field names of the mapping it is in."""
    parent, key = path[:-1], path[-1]
    model = _model_at(parent, raw)
    if model is None:
        return "remove it or check its spelling"
    allowed = [name for name, info in model.model_fields.items() if not info.exclude]
    close = difflib.get_close_matches(str(key), allowed, n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else ""
    return f"{suggestion}allowed here: {', '.join(allowed)}"


def _explain_error(error: Mapping[str, Any], path: Sequence[str | int], raw: Any) -> str:
    """A pydantic error rewritten for someone editing the YAML: what is wrong, what to do."""
    kind = error["type"]
    message = str(error["msg"])
    value = error.get("input")
    if kind == "missing":
        return f"required field {path[-1]!r} is missing: add it" if path else "required field missing"
    if kind == "extra_forbidden":
        return f"unknown field {path[-1]!r}: {_field_hint(path, raw)}"
    if kind == "union_tag_not_found":
        return f"rule has no 'kind': add kind: one of {', '.join(RULE_KINDS)}"
    if kind == "union_tag_invalid":
        tag = (error.get("ctx") or {}).get("tag")
        close = difflib.get_close_matches(str(tag), RULE_KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown rule kind {tag!r}{hint}: use one of {', '.join(RULE_KINDS)}"
    if kind in {"model_type", "dict_type"} and path and path[-1] in {"boundary", "geometry"}:
        return (
            "expected a GeoJSON Geometry or Feature mapping, or {file: some.geojson, where: {property: value}}, "
            f"got {type(value).__name__}"
        )
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        return message
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message} (got {value!r})"
    return message


def _check_unique_ids(loader: _FileLoader, section: str, items: list[Any], what: str) -> set[str]:
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        ident = item.get("id") if isinstance(item, dict) else None
        if not isinstance(ident, str):
            continue
        if ident in first:
            loader.report(
                [section, index, "id"],
                f"duplicate {what} id {ident!r} (also {section}[{first[ident]}]): give every {what} its own id",
            )
        else:
            first[ident] = index
    return set(first)


def _unknown_area_message(area_id: str, known: set[str]) -> str:
    if not known:
        return f"unknown area {area_id!r}: the config defines no areas; add it under areas:"
    close = difflib.get_close_matches(area_id, sorted(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(sorted(known)[:8]) + (", ..." if len(known) > 8 else "")
    return f"unknown area {area_id!r}: {hint}known areas: {listed} (define it under areas: or fix the id)"


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
            return f"{message}; no feature has a property {key!r} (properties there: {', '.join(names[:10])})"
        if wanted not in values:
            close = difflib.get_close_matches(wanted, values, n=3)
            shown = close or values[:5]
            return f"{message}; {key} values there include {', '.join(repr(v) for v in shown)}: fix the where: filter"
    return message + ": fix the where: filter"


def _coordinate_range_problem(geometry: BaseGeometry) -> str | None:
    min_x, min_y, max_x, max_y = geometry.bounds
    if not all(math.isfinite(v) for v in (min_x, min_y, max_x, max_y)):
        return "coordinates contain NaN or infinity"
    widest_x, widest_y = max(abs(min_x), abs(max_x)), max(abs(min_y), abs(max_y))
    if widest_x <= 180 and widest_y <= 90:
        return None
    if widest_x <= 90 and widest_y <= 180:
        return (
            f"latitude {widest_y:g} is out of range: the coordinates look like [latitude, longitude]; "
            "GeoJSON order is [longitude, latitude]"
        )
    return (
        f"coordinates span x {min_x:g}..{max_x:g}, y {min_y:g}..{max_y:g}, outside longitude -180..180 / latitude "
        "-90..90: give WGS 84 degrees (projected metres such as EPSG:5179 must be converted)"
    )


def _validity_reason(geometry: BaseGeometry) -> str:
    """``Ring Self-intersection at 126.789233 37.340244`` from shapely's ``...[x y]`` text."""
    text = explain_validity(geometry)
    match = re.fullmatch(r"(.*)\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]", text)
    if match:
        return f"{match.group(1)} at {float(match.group(2)):.6f} {float(match.group(3)):.6f}"
    return text


def _polygons(geometry: BaseGeometry) -> Iterator[shapely.Polygon]:
    if isinstance(geometry, shapely.Polygon):
        if not geometry.is_empty:
            yield geometry
    elif isinstance(geometry, shapely.MultiPolygon | shapely.GeometryCollection):
        for part in geometry.geoms:
            yield from _polygons(part)


def _repair(geometry: BaseGeometry) -> BaseGeometry | None:
    """``make_valid``, keeping only polygons (a repair can leave stray lines and points).

    The "structure" method unions the shells, so a polygon nested in another (a duplicated
    island) stays covered instead of becoming a hole as the default "linework" method makes it.
    """
    try:
        valid = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
    except (TypeError, ValueError):  # shapely < 2.1 or GEOS < 3.10 has only "linework"
        valid = shapely.make_valid(geometry)
    polygons = list(_polygons(valid))
    if not polygons:
        return None
    return shapely.union_all(polygons)


def _merge(parts: Sequence[BaseGeometry]) -> BaseGeometry:
    """Union several polygons and close the slivers simplification left between them.

    See ``GAP_CLOSING_DEG`` and ``SMALL_HOLE_M2``. The closing is unioned with the plain
    union, so merging only ever adds area: no part of any source polygon is lost.
    """
    union = shapely.union_all(list(parts))
    closed = shapely.buffer(
        shapely.buffer(union, GAP_CLOSING_DEG, join_style="mitre", mitre_limit=10.0),
        -GAP_CLOSING_DEG,
        join_style="mitre",
        mitre_limit=10.0,
    )
    merged = shapely.union(union, closed)
    polygons = [
        shapely.Polygon(
            polygon.exterior,
            [ring for ring in polygon.interiors if geodesic_area_m2(shapely.Polygon(ring)) >= SMALL_HOLE_M2],
        )
        for polygon in _polygons(merged)
    ]
    return shapely.union_all(polygons)


def _as_polygonal(geometry: BaseGeometry) -> Polygonal:
    if isinstance(geometry, shapely.Polygon | shapely.MultiPolygon):
        return geometry
    return shapely.MultiPolygon(list(_polygons(geometry)))


def _version(config: ZoneConfig, boundary: Polygonal, areas: Mapping[str, Area]) -> str:
    """Content hash of the config as validated, with geometry sources replaced by the shapes.

    Dumping the validated model (not the YAML text) makes the hash blind to formatting,
    comments, key order and defaults written out or left implicit; replacing each geometry
    by a digest of its resolved, normalised shape makes it follow the data rather than the
    file name it came from.
    """
    data = config.model_dump(mode="json", exclude={"boundary"})
    data["boundary"] = geometry_version(boundary)
    for area in data["areas"]:
        area["geometry"] = geometry_version(areas[area["id"]].geometry)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


__all__ = [
    "GAP_CLOSING_DEG",
    "SMALL_HOLE_M2",
    "Area",
    "ConfigProblem",
    "Zone",
    "ZoneConfigError",
    "describe_path",
    "geodesic_area_m2",
    "geometry_version",
    "load_zone",
    "load_zones",
]
