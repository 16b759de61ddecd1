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
from pilotzone.zones.fences.versions import (
    conflict_message,
    distinct_versions,
    in_force_versions,
    version_conflict,
)
from pilotzone.zones.geometry_sources import GeoJsonFiles, GeometryResolver
from pilotzone.zones.limits import MAX_CONFIG_BYTES
from pilotzone.zones.problems import ConfigProblem, ZoneConfigError
from pilotzone.zones.yaml_source import (
    YamlDocument,
    duplicate_key_problems,
    parse_yaml_document,
    read_yaml_document,
)

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

    Documents with one ``id`` are versions of that fence (``zones.fences.versions``): each
    is returned cut at its successor's start; the same document twice is one version; two
    different ones from the same ``effective_from`` are a problem.
    """
    problems: list[ConfigProblem] = []
    geojson_files = GeoJsonFiles(None if geometry_root is None else Path(geometry_root))
    fences: list[Fence] = []
    for path in map(Path, paths):
        files = fence_files(path) if path.is_dir() else [path]
        for file in files:
            fence, file_problems = _load_file(file, geojson_files, repair_geometry)
            problems.extend(file_problems)
            if fence is None:
                continue
            other = version_conflict(fence, fences)
            if other is not None:
                problems.append(ConfigProblem(str(file), "effective_from", conflict_message(fence, other)))
                continue
            fences.append(fence)
    if problems:
        raise ZoneConfigError(problems)
    return in_force_versions(distinct_versions(fences))


def load_fence_message(payload: bytes, name: str) -> Fence:
    """Load a fence document received as a message (a fence topic's record value) with the
    checks of a file, its problems named by ``name`` (where it came from).

    A message has no folder, so its polygon must be inline (``fences publish`` writes it so):
    a ``file:`` reference would be read from wherever the reader happens to run.
    """
    path = Path(name)
    if len(payload) > MAX_CONFIG_BYTES:
        message = f"{len(payload)} bytes, more than the {MAX_CONFIG_BYTES} a fence document may have"
        raise ZoneConfigError([ConfigProblem(name, "", message)])
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ZoneConfigError(
            [ConfigProblem(name, "", "not UTF-8 text: publish the fence as UTF-8")]
        ) from None
    document = parse_yaml_document(text, path)
    if isinstance(document, ConfigProblem):
        raise ZoneConfigError([document])
    if isinstance(document.data, dict) and isinstance(document.data.get("polygon"), str):
        message = "a fence message carries its polygon inline: publish it with `pilotzone fences publish`"
        raise ZoneConfigError([document.problem(("polygon",), message)])
    fence, problems = _load_document(document, GeoJsonFiles(None), repair_geometry=False)
    if fence is None or problems:
        raise ZoneConfigError(problems)
    return fence


def _load_file(
    path: Path, geojson_files: GeoJsonFiles, repair_geometry: bool
) -> tuple[Fence | None, list[ConfigProblem]]:
    document = read_yaml_document(path)
    if isinstance(document, ConfigProblem):
        return None, [document]
    return _load_document(document, geojson_files, repair_geometry)


def _load_document(
    document: YamlDocument, geojson_files: GeoJsonFiles, repair_geometry: bool
) -> tuple[Fence | None, list[ConfigProblem]]:
    path = document.path
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


__all__ = ["FENCE_SUFFIXES", "fence_files", "load_fence", "load_fence_message", "load_fences"]
