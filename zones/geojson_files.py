"""Reading the GeoJSON files that zone configs name: once per load, bounded, and only if they really are GeoJSON.

A ``file:`` reference is read only if it resolves (symlinks included) under the config's
geometry root and is a regular file of bounded size (``zones.config_files`` has the rule
and why). Only a structurally valid GeoJSON file (a FeatureCollection or Feature whose
every feature is a Feature with a geometry object, nested at most ``MAX_GEOJSON_DEPTH``
levels) is handed on to be searched with ``where:``; anything else is refused as a whole,
and no message ever quotes a value from it, so a config cannot turn the loader into a
reader of other JSON files on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pilotzone.zones.config_files import (
    GeometryRoot,
    RefusedFileError,
    geometry_root,
    read_bounded,
    resolve_under,
)
from pilotzone.zones.limits import MAX_GEOJSON_DEPTH, MAX_GEOMETRY_BYTES_PER_LOAD, MAX_GEOMETRY_FILE_BYTES
from pilotzone.zones.problems import ConfigProblem

GEOJSON_GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)


class GeoJsonFiles:
    """GeoJSON files read once per ``load_zones`` call (a city's districts feed many areas).

    A file that cannot be read is reported once, however many geometries use it. Whether a
    config may read a file at all depends on that config's geometry root, so that is
    checked on every use; only the reading is shared. ``root`` overrides every config's
    default root (see ``zones.config_files``).
    """

    def __init__(self, root: Path | None = None) -> None:
        self.explicit_root = root
        self._features: dict[Path, list[dict[str, Any]] | ConfigProblem | None] = {}
        self._reported: set[Path] = set()
        self._bytes_read = 0

    def root_for(self, config: Path) -> GeometryRoot:
        """The folder the geometry files of ``config`` must lie under."""
        return geometry_root(config, self.explicit_root)

    def features(self, path: Path, root: GeometryRoot) -> list[dict[str, Any]] | ConfigProblem | None:
        """The file's features; None if it does not exist; a problem if it may not be read or is not GeoJSON.

        Refused, with a problem whose ``file`` is empty because it belongs on the config's
        ``file:`` field: a path resolving outside ``root``, anything but a regular file, a
        file over ``MAX_GEOMETRY_FILE_BYTES``, files past ``MAX_GEOMETRY_BYTES_PER_LOAD`` in
        total. A file that is not JSON or not GeoJSON is a problem of that file.
        """
        try:
            key = resolve_under(path, root)
        except RefusedFileError as exc:
            return ConfigProblem("", "", str(exc))
        if key not in self._features:
            self._features[key] = self._read(path, key)
        return self._features[key]

    def first_report(self, path: Path) -> bool:
        """True the first time a problem with this file is about to be reported."""
        key = path.resolve()
        first = key not in self._reported
        self._reported.add(key)
        return first

    def _read(self, path: Path, resolved: Path) -> list[dict[str, Any]] | ConfigProblem | None:
        try:
            raw = read_bounded(resolved, MAX_GEOMETRY_FILE_BYTES)
        except FileNotFoundError:
            return None
        except RefusedFileError as exc:
            return ConfigProblem("", "", str(exc))
        self._bytes_read += len(raw)
        if self._bytes_read > MAX_GEOMETRY_BYTES_PER_LOAD:
            return ConfigProblem(
                "",
                "",
                f"the geometry files of these configs exceed {MAX_GEOMETRY_BYTES_PER_LOAD:,} bytes in total: "
                "share one file among areas, or simplify the geometry",
            )
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return ConfigProblem(str(path), "", "geometry file is not UTF-8 text: save it as UTF-8 GeoJSON")
        except json.JSONDecodeError as exc:
            return ConfigProblem(
                str(path), f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
            )
        except RecursionError:
            return ConfigProblem(str(path), "", _TOO_DEEP)
        except ValueError:  # an integer of more than 4,300 digits, Python's bound on int parsing
            return ConfigProblem(
                str(path), "", "not valid GeoJSON: a number too long to read; nothing is read from it"
            )
        return geojson_features(str(path), data)


_TOO_DEEP = (
    f"not a GeoJSON file: values nested more than {MAX_GEOJSON_DEPTH} levels deep (a FeatureCollection of "
    "MultiPolygons needs 8); nothing is read from it"
)


def geojson_features(file: str, data: Any) -> list[dict[str, Any]] | ConfigProblem:
    """The features of parsed GeoJSON, or a problem that quotes nothing from ``data``.

    A FeatureCollection or a Feature; every feature a mapping with ``type: Feature``, a
    ``geometry`` that is null or a geometry object of a GeoJSON type, and ``properties`` that
    are null or a mapping. Anything else is some other JSON file, whose values are none of
    the config's business, so the problem names positions and keys only.
    """
    if _deeper_than(data, MAX_GEOJSON_DEPTH):
        return ConfigProblem(file, "", _TOO_DEEP)
    if (
        isinstance(data, dict)
        and data.get("type") == "FeatureCollection"
        and isinstance(data.get("features"), list)
    ):
        features: list[Any] = data["features"]
        prefix = "features"
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features, prefix = [data], ""
    else:
        return ConfigProblem(
            file, "", "not a GeoJSON file: expected a FeatureCollection or Feature; nothing is read from it"
        )
    for index, feature in enumerate(features):
        if not _is_feature(feature):
            where = f"{prefix}[{index}]" if prefix else "the Feature"
            return ConfigProblem(
                file,
                "",
                f"not a GeoJSON file: {where} is not a Feature (type: Feature, a geometry object or null, "
                "properties a mapping or null); nothing is read from it",
            )
    return features


def _is_feature(feature: Any) -> bool:
    if not isinstance(feature, dict) or feature.get("type") != "Feature" or "geometry" not in feature:
        return False
    properties = feature.get("properties")
    if properties is not None and not isinstance(properties, dict):
        return False
    geometry = feature["geometry"]
    if geometry is None:
        return True
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOJSON_GEOMETRY_TYPES:
        return False
    member = "geometries" if geometry["type"] == "GeometryCollection" else "coordinates"
    return isinstance(geometry.get(member), list)


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether parsed JSON nests lists and mappings more than ``limit`` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


__all__ = ["GEOJSON_GEOMETRY_TYPES", "GeoJsonFiles", "geojson_features"]
