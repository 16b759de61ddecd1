"""Reading fence documents: a file or a folder of them in, validated ``Fence`` values out.

A fence is published in an emergency, so a bad one must be refused with every problem at
once, each with the file, the field and what to change, exactly as a zone config is
(``zones.loader``): the same YAML reader (JSON is YAML), the same schema messages, and the
same geometry rules, a ``file:`` polygon lying under the geometry root
(``zones.config_files``). Errors are raised as ``ZoneConfigError``, so every command that
reports config problems reports fence problems the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from pilotzone.zones.error_messages import explain_error, yaml_path
from pilotzone.zones.fences.model import Fence, FenceDocument, fence_digest
from pilotzone.zones.geometry_sources import GeoJsonFiles, GeometryResolver
from pilotzone.zones.problems import ConfigProblem, ZoneConfigError
from pilotzone.zones.yaml_source import duplicate_key_problems, read_yaml_document

FENCE_SUFFIXES = (".yaml", ".yml", ".json")
"""Files of a fence folder that are read; others (a README, a half-written temporary) are not."""


def fence_files(folder: Path) -> list[Path]:
    """The fence documents of a folder, sorted by name; hidden files (temporaries) are skipped."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix in FENCE_SUFFIXES and not path.name.startswith(".")
    )


def load_fence(
    path: str | Path, *, geometry_root: str | Path | None = None, repair_geometry: bool = False
) -> Fence:
    """Load one fence document; raise ``ZoneConfigError`` with every problem if it is bad."""
    return load_fences([path], geometry_root=geometry_root, repair_geometry=repair_geometry)[0]


def load_fences(
    paths: Iterable[str | Path], *, geometry_root: str | Path | None = None, repair_geometry: bool = False
) -> list[Fence]:
    """Load fence files and folders (their fence files, sorted); every file is checked.

    Two documents with one ``id`` are a problem: a fence is replaced by publishing a new
    version of its file, not by a second file.
    """
    problems: list[ConfigProblem] = []
    geojson_files = GeoJsonFiles(None if geometry_root is None else Path(geometry_root))
    fences: list[Fence] = []
    first_file_of: dict[str, Path] = {}
    for path in map(Path, paths):
        files = fence_files(path) if path.is_dir() else [path]
        for file in files:
            fence, file_problems = _load_file(file, geojson_files, repair_geometry)
            problems.extend(file_problems)
            if fence is None:
                continue
            if fence.fence_id in first_file_of:
                problems.append(
                    ConfigProblem(
                        str(file),
                        "id",
                        f"fence id {fence.fence_id!r} is also used by {first_file_of[fence.fence_id]}: "
                        "give each fence its own id, or replace the other file",
                    )
                )
                continue
            first_file_of[fence.fence_id] = file
            fences.append(fence)
    if problems:
        raise ZoneConfigError(problems)
    return fences


def _load_file(
    path: Path, geojson_files: GeoJsonFiles, repair_geometry: bool
) -> tuple[Fence | None, list[ConfigProblem]]:
    document = read_yaml_document(path)
    if isinstance(document, ConfigProblem):
        return None, [document]
    if not isinstance(document.data, dict):
        got = "an empty file" if document.data is None else f"a {type(document.data).__name__}"
        message = f"a fence is a mapping (id: ..., polygon: ..., effective_from: ...), got {got}"
        return None, [ConfigProblem(str(path), "", message, 1)]
    problems = duplicate_key_problems(document)
    config: FenceDocument | None = None
    try:
        config = FenceDocument.model_validate(document.data)
    except ValidationError as exc:
        reported: set[tuple[str, str]] = set()
        for error in exc.errors(include_url=False):
            field_path = yaml_path(error["loc"], document.data)
            message = explain_error(error, field_path, document.data, FenceDocument)
            key = (document.describe(field_path), message)
            if key not in reported:
                reported.add(key)
                problems.append(document.problem(field_path, message))
    resolver = GeometryResolver(document, geojson_files, problems, repair_geometry=repair_geometry)
    geometry = resolver.resolve_field(("polygon",))
    if config is None or geometry is None or problems:
        return None, problems
    return Fence(config, geometry, fence_digest(config, geometry), path), problems


__all__ = ["FENCE_SUFFIXES", "fence_files", "load_fence", "load_fences"]
