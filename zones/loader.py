"""Reading zone configs: YAML in, a validated ``Zone`` with resolved geometry out.

A zone config is written by people and read by a regulator, so the loader's job is as much
to explain a bad config as to load a good one: it collects every problem it can find in one
pass (YAML syntax, schema, cross-references, geometry) across every file it is given and
raises them together in one ``ZoneConfigError``, each with the file, the field and what to
change. Nothing is loaded half-way: a ``Zone`` exists only for a config without problems.

This module runs the steps in order; each step's know-how has its own module:
``zones.yaml_source`` (parsing, lines of fields), ``zones.error_messages`` (schema errors in
words for the editor), ``zones.geometry_sources``, ``zones.geojson_files`` and
``zones.geometry`` (reading, checking, repairing and merging polygons), ``zones.config_files``
(which files a config may make the loader read), ``zones.version`` (the content hash),
``zones.history`` (dated versions of one zone: overlaps, gaps, the cap on versions).
``zones.limits`` bounds what a config can cost: a hostile config is refused with a problem
like any other mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import shapely
from pydantic import ValidationError

from pilotzone.zones.error_messages import explain_error, unknown_area_message, yaml_path
from pilotzone.zones.geometry import geodesic_area_m2
from pilotzone.zones.geometry_sources import GeoJsonFiles, GeometryResolver
from pilotzone.zones.history import history_problems, is_dated
from pilotzone.zones.limits import MAX_TIE_WARNINGS
from pilotzone.zones.model import ZoneConfig
from pilotzone.zones.problems import ConfigProblem, ZoneConfigError
from pilotzone.zones.rules import precedence_ties
from pilotzone.zones.version import zone_version
from pilotzone.zones.yaml_source import FieldPath, YamlDocument, duplicate_key_problems, read_yaml_document
from pilotzone.zones.zone import Area, Polygonal, Zone

YAML_SUFFIXES = (".yaml", ".yml")


def load_zone(
    path: str | Path, *, repair_geometry: bool = False, geometry_root: str | Path | None = None
) -> Zone:
    """Load one zone config file; raise ``ZoneConfigError`` with every problem if it is bad."""
    path = Path(path)
    if path.is_dir():
        raise ZoneConfigError(
            [ConfigProblem(str(path), "", "is a folder: pass a YAML file, or use load_zones")]
        )
    return load_zones([path], repair_geometry=repair_geometry, geometry_root=geometry_root)[0]


def load_zones(
    paths: Iterable[str | Path], *, repair_geometry: bool = False, geometry_root: str | Path | None = None
) -> list[Zone]:
    """Load zone config files and folders (their ``*.yaml``/``*.yml`` files, sorted).

    Every file is checked even after a bad one, so one run reports all problems; duplicate
    zone ids across files are a problem too. Raises ``ZoneConfigError`` if anything is wrong.
    ``file:`` geometry must lie under ``geometry_root``; by default, under the folder that
    holds each config's folder (``zones.config_files`` says why).
    """
    problems: list[ConfigProblem] = []
    geojson_files = GeoJsonFiles(None if geometry_root is None else Path(geometry_root))
    zones: list[Zone] = []
    first_file_of: dict[str, tuple[Path, bool]] = {}
    for file in _expand(paths):
        if isinstance(file, ConfigProblem):
            problems.append(file)
            continue
        zone, file_problems = _FileLoader(file, geojson_files, repair_geometry).load()
        problems.extend(file_problems)
        if zone is None:
            continue
        if zone.zone_id in first_file_of and not (is_dated(zone) and first_file_of[zone.zone_id][1]):
            problems.append(
                ConfigProblem(
                    str(file),
                    "zone_id",
                    f"zone_id {zone.zone_id!r} is also used by {first_file_of[zone.zone_id][0]}: "
                    "every zone needs its own id, or, for versions of one zone, give each an effective_from "
                    "(and each but the last an until)",
                )
            )
            continue
        # Dated versions of one zone form its history; an undated config owns its id alone.
        first_file_of.setdefault(zone.zone_id, (file, is_dated(zone)))
        zones.append(zone)
    problems.extend(history_problems(zones))
    if problems:
        raise ZoneConfigError(problems)
    return zones


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
        elif path.exists():
            files.append(
                ConfigProblem(str(path), "", "not a regular file: pass a zone config YAML file or folder")
            )
        else:
            files.append(ConfigProblem(str(path), "", "no such file or folder"))
    if not files:
        files.append(ConfigProblem("", "", "no zone config files given"))
    return files


class _FileLoader:
    """Loads one YAML file, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, geojson_files: GeoJsonFiles, repair_geometry: bool) -> None:
        self.path = path
        self.geojson_files = geojson_files
        self.repair_geometry = repair_geometry
        self.problems: list[ConfigProblem] = []
        self.document = YamlDocument(path, None, None)

    def report(self, path: FieldPath, message: str) -> None:
        self.problems.append(self.document.problem(path, message))

    def load(self) -> tuple[Zone | None, list[ConfigProblem]]:
        if not self._parse():
            return None, self.problems
        config = self._validate()
        self._check_references()
        resolver = GeometryResolver(
            self.document, self.geojson_files, self.problems, repair_geometry=self.repair_geometry
        )
        geometries = resolver.resolve_all()
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
            version=zone_version(config, boundary, areas),
            source=self.path,
            repaired=tuple(resolver.repaired),
            warnings=tuple(warnings),
        )
        return zone, self.problems

    def _parse(self) -> bool:
        document = read_yaml_document(self.path)
        if isinstance(document, ConfigProblem):
            self.problems.append(document)
            return False
        self.document = document
        if not isinstance(document.data, dict):
            got = "an empty file" if document.data is None else f"a {type(document.data).__name__}"
            self.problems.append(
                ConfigProblem(
                    str(self.path),
                    "",
                    f"a zone config is a YAML mapping (zone_id: ..., rules: ...), got {got}",
                    1,
                )
            )
            return False
        self.problems.extend(duplicate_key_problems(document))
        return True

    def _validate(self) -> ZoneConfig | None:
        raw = self.document.data
        try:
            return ZoneConfig.model_validate(raw)
        except ValidationError as exc:
            reported: set[tuple[str, str]] = set()
            for error in exc.errors(include_url=False):
                path = yaml_path(error["loc"], raw)
                message = explain_error(error, path, raw)
                key = (self.document.describe(path), message)
                if key not in reported:  # both members of a failed union say the same thing
                    reported.add(key)
                    self.report(path, message)
            return None

    def _check_references(self) -> None:
        raw = self.document.data
        areas = raw.get("areas") if isinstance(raw.get("areas"), list) else []
        area_ids = self._check_unique_ids("areas", areas, "area")
        rules = raw.get("rules") if isinstance(raw.get("rules"), list) else []
        self._check_unique_ids("rules", rules, "rule")
        operators = raw.get("operators") if isinstance(raw.get("operators"), list) else []
        self._check_unique_ids("operators", operators, "operator")
        for index, rule in enumerate(rules):
            applies = rule.get("applies") if isinstance(rule, dict) else None
            referenced = applies.get("areas") if isinstance(applies, dict) else None
            if not isinstance(referenced, list):
                continue
            for position, area_id in enumerate(referenced):
                if isinstance(area_id, str) and area_id not in area_ids:
                    self.report(
                        ["rules", index, "applies", "areas", position],
                        unknown_area_message(area_id, area_ids),
                    )

    def _check_unique_ids(self, section: str, items: list[Any], what: str) -> set[str]:
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            ident = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ident, str):
                continue
            if ident in first:
                self.report(
                    [section, index, "id"],
                    f"duplicate {what} id {ident!r} (also {section}[{first[ident]}]): give every {what} its own id",
                )
            else:
                first[ident] = index
        return set(first)

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
        ties = precedence_ties(config.rules, limit=MAX_TIE_WARNINGS)
        warnings = [
            f"{first.kind} rules {first.id!r} and {second.id!r} both apply {scope} to the same vehicles at "
            f"overlapping times with equal priority, so only rule-id order makes {first.id!r} win: give one "
            "an explicit priority or narrow its vehicle_classes or schedule"
            for first, second, scope in ties.pairs
        ]
        if not ties.complete:
            warnings.append(
                f"{ties.tied_rules} rules tie on precedence with another rule; only {MAX_TIE_WARNINGS} of the "
                "tied pairs are listed: give tied rules explicit priorities or narrow their vehicle_classes or "
                "schedules"
            )
        return warnings


__all__ = ["YAML_SUFFIXES", "load_zone", "load_zones"]
