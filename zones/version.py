"""Content versions of zones: the same for the same rules and shapes, different after any change.

Incidents and metrics carry the zone version they were judged under, so an operator can tell
whether two results came from the same configuration. The hash follows the meaning, not the
file: formatting, comments, key order and the name of a geometry file do not change it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import shapely
from shapely.geometry.base import BaseGeometry

from pilotzone.zones.model import ZoneConfig
from pilotzone.zones.zone import Area, Polygonal


def geometry_version(geometry: BaseGeometry) -> str:
    """A short digest of a geometry's exact shape, independent of ring start and orientation."""
    return hashlib.sha256(shapely.to_wkb(shapely.normalize(geometry))).hexdigest()[:16]


def zone_version(config: ZoneConfig, boundary: Polygonal, areas: Mapping[str, Area]) -> str:
    """Content hash of the config as validated, with geometry sources replaced by the shapes.

    Dumping the validated model (not the YAML text) makes the hash blind to formatting,
    comments, key order and defaults written out or left implicit; replacing each geometry
    by a digest of its resolved, normalised shape makes it follow the data rather than the
    file name it came from.
    """
    data = config.model_dump(mode="json", exclude={"boundary"})
    if data["source"] is None:
        # Configs written before ``source`` existed keep the version they always had.
        del data["source"]
    for dated in ("effective_from", "until"):
        # Undated configs keep their version; a dated one's dates are part of what it says.
        if data[dated] is None:
            del data[dated]
    data["boundary"] = geometry_version(boundary)
    for area in data["areas"]:
        area["geometry"] = geometry_version(areas[area["id"]].geometry)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


__all__ = ["geometry_version", "zone_version"]
