"""Which files a zone config may make the loader read: regular GeoJSON of bounded size under the geometry root."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pilotzone.zones import ConfigProblem, ZoneConfigError, load_zone, load_zones
from pilotzone.zones.config_files import RefusedFileError, geometry_root, read_bounded
from pilotzone.zones.geojson_files import geojson_features
from pilotzone.zones.limits import (
    MAX_CONFIG_BYTES,
    MAX_GEOJSON_DEPTH,
    MAX_GEOMETRY_BYTES_PER_LOAD,
    MAX_GEOMETRY_FILE_BYTES,
)
from tests.zones import geometries as g
from tests.zones.deadline import deadline, timed


def _tree(tmp_path: Path, boundary_file: str) -> Path:
    """``tree/configs/zone.yaml`` whose boundary is ``boundary_file``, and ``tree/data/`` beside it."""
    (tmp_path / "tree" / "configs").mkdir(parents=True)
    (tmp_path / "tree" / "data").mkdir()
    config = g.base_config()
    config["boundary"] = {"file": boundary_file, "where": {"k": "v"}}
    return g.write_yaml(tmp_path / "tree" / "configs" / "zone.yaml", config)


def _geojson(path: Path, properties: dict[str, Any] | None = None) -> Path:
    feature = {"type": "Feature", "properties": properties or {"k": "v"}, "geometry": g.BOUNDARY}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")
    return path


def _problems(paths: list[Path], **kwargs: Any) -> list[ConfigProblem]:
    with deadline(60), pytest.raises(ZoneConfigError) as caught:
        load_zones(paths, **kwargs)
    return caught.value.problems


def _only(problems: list[ConfigProblem]) -> tuple[str, str, str]:
    (problem,) = problems
    return problem.file, problem.location, problem.message


# --- the root --------------------------------------------------------------------------------


def test_the_default_root_is_the_folder_holding_the_configs_folder(tmp_path: Path) -> None:
    config = _tree(tmp_path, "../data/boundary.geojson")
    _geojson(tmp_path / "tree" / "data" / "boundary.geojson")

    assert geometry_root(config).folder == (tmp_path / "tree").resolve()
    assert load_zone(config).zone_id == "testzone"


def test_the_default_root_is_never_the_filesystem_root() -> None:
    assert geometry_root(Path("/tmp/zone.yaml")).folder == Path("/tmp").resolve()
    assert geometry_root(Path("/srv/pilot/configs/zone.yaml")).folder == Path("/srv/pilot")


def test_an_explicit_root_replaces_the_default(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    _geojson(shared / "boundary.geojson")
    config = _tree(tmp_path, str(shared / "boundary.geojson"))

    (problem,) = _problems([config])
    assert problem.location == "boundary.file"
    assert problem.message.startswith(
        f"geometry file {shared / 'boundary.geojson'} refused: it lies outside "
    )
    assert load_zone(config, geometry_root=shared).zone_id == "testzone"
    root = geometry_root(config, shared)
    assert (root.folder, root.explicit, root.describe()) == (
        shared,
        True,
        f"{shared} (given with --geometry-root)",
    )


def test_the_root_follows_a_symlinked_configs_folder_as_the_kernel_does(tmp_path: Path) -> None:
    # tree/configs is a link to elsewhere/configs: "../data" from it is elsewhere/data.
    (tmp_path / "elsewhere" / "configs").mkdir(parents=True)
    (tmp_path / "elsewhere" / "data").mkdir()
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "configs").symlink_to(tmp_path / "elsewhere" / "configs")
    _geojson(tmp_path / "elsewhere" / "data" / "boundary.geojson")
    config = g.base_config()
    config["boundary"] = {"file": "../data/boundary.geojson", "where": {"k": "v"}}
    path = g.write_yaml(tmp_path / "tree" / "configs" / "zone.yaml", config)

    assert geometry_root(path).folder == (tmp_path / "elsewhere").resolve()
    assert load_zone(path).zone_id == "testzone"


# --- what is refused -------------------------------------------------------------------------


def test_a_symlink_escaping_the_tree_is_refused(tmp_path: Path) -> None:
    outside = _geojson(tmp_path / "outside.geojson", {"k": "v", "secret": "hunter2"})
    config = _tree(tmp_path, "../data/boundary.geojson")
    (tmp_path / "tree" / "data" / "boundary.geojson").symlink_to(outside)

    file, location, message = _only(_problems([config]))
    assert (file, location) == (str(config), "boundary.file")
    assert message == (
        f"geometry file {config.parent / '../data/boundary.geojson'} refused: it lies outside "
        f"{(tmp_path / 'tree').resolve()} (the folder holding the config's folder) (it resolves to {outside.resolve()}): "
        "geometry files must lie under that folder; copy the GeoJSON there, or choose the root explicitly "
        "(--geometry-root)"
    )


def test_a_symlink_inside_the_tree_is_followed(tmp_path: Path) -> None:
    config = _tree(tmp_path, "../data/boundary.geojson")
    _geojson(tmp_path / "tree" / "data" / "real.geojson")
    (tmp_path / "tree" / "data" / "boundary.geojson").symlink_to("real.geojson")

    assert load_zone(config).zone_id == "testzone"


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path: Path) -> None:
    config = _tree(tmp_path, "../data/boundary.geojson")
    os.mkfifo(tmp_path / "tree" / "data" / "boundary.geojson")

    with timed() as elapsed:
        file, location, message = _only(_problems([config]))
    assert elapsed[0] < 5
    assert (file, location) == (str(config), "boundary.file")
    assert message.endswith(
        "refused: it is a FIFO (named pipe), not a regular file: name a GeoJSON or YAML file"
    )


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    config = _tree(tmp_path, "../data/boundary.geojson")
    with (tmp_path / "tree" / "data" / "boundary.geojson").open("wb") as sparse:
        sparse.truncate(MAX_GEOMETRY_FILE_BYTES + 1)

    with timed() as elapsed:
        file, location, message = _only(_problems([config]))
    assert elapsed[0] < 5
    assert (file, location) == (str(config), "boundary.file")
    assert message.endswith(
        "refused: it is too large (67,108,865 bytes; at most 67,108,864 bytes): split or simplify it"
    )


def test_geometry_files_are_capped_in_total_per_load(tmp_path: Path) -> None:
    # Five files at the size cap: the first four fit the total, the fifth does not.
    config = g.base_config()
    config["areas"] = []
    config["rules"] = [rule for rule in config["rules"] if "areas" not in rule.get("applies", {})]
    paths = []
    for index in range(MAX_GEOMETRY_BYTES_PER_LOAD // MAX_GEOMETRY_FILE_BYTES + 1):
        with (tmp_path / f"big-{index}.geojson").open("wb") as sparse:
            sparse.truncate(MAX_GEOMETRY_FILE_BYTES)
        config["zone_id"] = f"zone-{index}"
        config["boundary"] = {"file": f"big-{index}.geojson"}
        paths.append(g.write_yaml(tmp_path / f"zone-{index}.yaml", config))

    problems = _problems(paths)
    assert [(p.file, p.location, p.message) for p in problems[:4]] == [
        (str(tmp_path / f"big-{index}.geojson"), "line 1, column 1", "not valid JSON: Expecting value")
        for index in range(4)
    ]
    assert [(p.file, p.location, p.message) for p in problems[4:]] == [
        (
            str(paths[4]),
            "boundary.file",
            f"geometry file {tmp_path / 'big-4.geojson'} refused: the geometry files of these configs exceed "
            "268,435,456 bytes in total: share one file among areas, or simplify the geometry",
        )
    ]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/dev/zero", "refused: /dev/zero is a kernel or device file, not data: name a GeoJSON or YAML file"),
        (
            "/proc/self/environ",
            "is a kernel or device file, not data: name a GeoJSON or YAML file",
        ),
    ],
)
def test_device_and_kernel_files_are_refused_even_under_the_root(
    tmp_path: Path, target: str, message: str
) -> None:
    config = _tree(tmp_path, target)

    with timed() as elapsed:
        file, location, said = _only(_problems([config], geometry_root="/"))
    assert elapsed[0] < 5
    assert (file, location) == (str(config), "boundary.file")
    assert said.startswith(f"geometry file {target} refused: ") and said.endswith(message)


def test_a_system_file_under_the_root_is_refused_without_quoting_it(tmp_path: Path) -> None:
    config = _tree(tmp_path, "/etc/passwd")

    file, location, message = _only(_problems([config], geometry_root="/"))
    assert (file, location, message) == ("/etc/passwd", "line 1, column 1", "not valid JSON: Expecting value")
    assert "root" not in message


def test_a_folder_is_refused(tmp_path: Path) -> None:
    config = _tree(tmp_path, "../data")
    assert _only(_problems([config]))[2].endswith(
        "refused: it is a folder, not a regular file: name a GeoJSON or YAML file"
    )


def test_a_missing_file_outside_the_root_says_outside_not_missing(tmp_path: Path) -> None:
    # The answer must not tell a config's author which files exist elsewhere on the machine.
    config = _tree(tmp_path, "/etc/no-such-file.geojson")
    assert " refused: it lies outside " in _only(_problems([config]))[2]


# --- the config file itself ------------------------------------------------------------------


def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "zone.yaml")
    assert _only(_problems([tmp_path / "zone.yaml"])) == (
        str(tmp_path / "zone.yaml"),
        "",
        "not a regular file: pass a zone config YAML file or folder",
    )
    assert _only(_problems([Path("/proc/self/environ")])) == (
        "/proc/self/environ",
        "",
        f"cannot read the config: /proc/{os.getpid()}/environ is a kernel or device file, not data: name a GeoJSON "
        "or YAML file",
    )


def test_a_config_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    with (tmp_path / "zone.yaml").open("wb") as sparse:
        sparse.truncate(MAX_CONFIG_BYTES + 1)
    assert _only(_problems([tmp_path / "zone.yaml"])) == (
        str(tmp_path / "zone.yaml"),
        "",
        "cannot read the config: it is too large (1,048,577 bytes; at most 1,048,576 bytes): split or simplify it",
    )


def test_read_bounded_reads_a_regular_file_up_to_the_cap(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 10)
    assert read_bounded(tmp_path / "f", 10) == b"x" * 10
    with pytest.raises(RefusedFileError, match=r"it is too large \(10 bytes; at most 9 bytes\)"):
        read_bounded(tmp_path / "f", 9)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 9)


# --- what counts as GeoJSON ------------------------------------------------------------------

POLYGON = {"type": "Polygon", "coordinates": []}
NOT_GEOJSON = "not a GeoJSON file: expected a FeatureCollection or Feature; nothing is read from it"


def _not_a_feature(where: str) -> str:
    return (
        f"not a GeoJSON file: {where} is not a Feature (type: Feature, a geometry object or null, properties a "
        "mapping or null); nothing is read from it"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "Feature", "geometry": POLYGON, "properties": None}, 1),
        ({"type": "Feature", "geometry": None}, 1),
        ({"type": "FeatureCollection", "features": []}, 0),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": POLYGON, "properties": {"a": 1}},
                    {"type": "Feature", "geometry": {"type": "GeometryCollection", "geometries": []}},
                ],
            },
            2,
        ),
        ([1, 2], NOT_GEOJSON),
        ({"type": "Topology"}, NOT_GEOJSON),
        ({"type": "FeatureCollection", "features": {"a": 1}}, NOT_GEOJSON),
        ({"type": "FeatureCollection", "features": [1]}, _not_a_feature("features[0]")),
        (
            {"type": "FeatureCollection", "features": [{"properties": {"k": "v"}}]},
            _not_a_feature("features[0]"),
        ),
        ({"type": "Feature", "properties": {"k": "v"}}, _not_a_feature("the Feature")),
        ({"type": "Feature", "geometry": POLYGON, "properties": ["v"]}, _not_a_feature("the Feature")),
        (
            {"type": "Feature", "geometry": {"type": "Circle", "coordinates": []}},
            _not_a_feature("the Feature"),
        ),
        (
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "v"}},
            _not_a_feature("the Feature"),
        ),
        (
            {"type": "Feature", "geometry": {"type": "GeometryCollection", "coordinates": []}},
            _not_a_feature("the Feature"),
        ),
    ],
)
def test_only_structurally_valid_geojson_is_searched(data: Any, expected: int | str) -> None:
    found = geojson_features("f.json", data)
    if isinstance(expected, int):
        assert isinstance(found, list) and len(found) == expected
    else:
        assert found == ConfigProblem("f.json", "", expected)


@pytest.mark.parametrize("depth", [MAX_GEOJSON_DEPTH + 1, 600, 5000])
def test_geojson_nested_deeper_than_any_geometry_is_refused(tmp_path: Path, depth: int) -> None:
    # shapely walks coordinates recursively: a few hundred levels of "[" ended in RecursionError.
    config = _tree(tmp_path, "../data/boundary.geojson")
    coordinates = "[" * depth + "]" * depth
    (tmp_path / "tree" / "data" / "boundary.geojson").write_text(
        '{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": '
        + coordinates
        + "}}",
        encoding="utf-8",
    )

    assert _only(_problems([config])) == (
        str(config.parent / "../data/boundary.geojson"),
        "",
        "not a GeoJSON file: values nested more than 32 levels deep (a FeatureCollection of MultiPolygons needs 8); "
        "nothing is read from it",
    )


def test_long_property_values_are_cut_short_in_hints(tmp_path: Path) -> None:
    config = _tree(tmp_path, "../data/boundary.geojson")
    _geojson(tmp_path / "tree" / "data" / "boundary.geojson", {"k": "x" * 1_000_000})

    message = _only(_problems([config]))[2]
    assert message.endswith(f"; k values there include '{'x' * 78}…: fix the where: filter")
    assert len(message) < 600


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "a\0b.geojson",
            "the path contains a control character (such as NUL or a newline): write it as plain text",
        ),
        (
            "a\nb.geojson",
            "the path contains a control character (such as NUL or a newline): write it as plain text",
        ),
        ("", "String should have at least 1 character (got '')"),
        ("x" * 5000, f"String should have at most 4096 characters (got '{'x' * 78}…)"),
    ],
)
def test_paths_that_no_file_system_takes_are_schema_problems(tmp_path: Path, path: str, message: str) -> None:
    config = _tree(tmp_path, path)
    assert _only(_problems([config])) == (str(config), "boundary.file", message)
