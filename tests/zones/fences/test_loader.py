"""Fence documents: what loads, its digest, and every problem at once with file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.zones.fences import load_fences
from pilotzone.zones.fences.loader import load_fence
from pilotzone.zones.problems import ZoneConfigError
from tests.zones.fences.fence_files import SQUARE, START_MS, fence_document, write_fence

pytestmark = pytest.mark.fences


def problems_of(*paths: Path, root: Path | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ZoneConfigError) as caught:
        load_fences(paths, geometry_root=root)
    return [(Path(problem.file).name, problem.location) for problem in caught.value.problems]


def test_a_valid_fence_loads_with_its_defaults_and_times(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))
    assert fence.fence_id == "fire-1"
    assert fence.rule_id == "fence:fire-1"
    assert fence.document.exit_within_s == 120.0
    assert fence.start_ms == START_MS
    assert fence.end_ms == 2**62
    assert fence.in_force(START_MS) and not fence.in_force(START_MS - 1)
    assert fence.geometry.bounds == (126.90, 35.14, 126.91, 35.15)


def test_the_digest_follows_the_content_not_the_format(tmp_path: Path) -> None:
    as_yaml = load_fence(write_fence(tmp_path))
    as_json = tmp_path / "fire-1.json"
    as_json.write_text(json.dumps(fence_document(exit_within_s=120)), encoding="utf-8")
    assert load_fence(as_json).digest == as_yaml.digest
    assert as_yaml.digest.startswith("sha256:") and len(as_yaml.digest) == 7 + 16
    changed = write_fence(tmp_path, "changed.yaml", exit_within_s=60)
    assert load_fence(changed).digest != as_yaml.digest


def test_a_polygon_from_a_geojson_file_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "fire.geojson").write_text(
        json.dumps({"type": "Feature", "properties": {"name": "fire"}, "geometry": SQUARE}), encoding="utf-8"
    )
    folder = tmp_path / "fences"
    folder.mkdir()
    by_file = load_fence(write_fence(folder, polygon={"file": "../fire.geojson"}))
    inline = load_fence(write_fence(tmp_path, "inline.yaml"))
    assert by_file.digest == inline.digest


def test_a_polygon_file_outside_the_root_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "fences"
    folder.mkdir(parents=True)
    (tmp_path / "fire.geojson").write_text(json.dumps(SQUARE), encoding="utf-8")
    with pytest.raises(ZoneConfigError) as caught:
        load_fences([write_fence(folder, polygon={"file": "../../fire.geojson"})])
    (problem,) = caught.value.problems
    assert problem.location == "polygon.file"
    assert "outside" in problem.message


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    write_fence(tmp_path, "a.yaml", reason=None, exit_within_s=7200)
    write_fence(tmp_path, "b.yaml", id="b", until="2026-03-01T00:00:00+00:00", colour="red")
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    write_fence(tmp_path, "c.yaml", id="c", polygon=bowtie, vehicle_classes=[])
    write_fence(tmp_path, "d.yaml")  # the id of a.yaml, which is refused: no duplicate then
    write_fence(tmp_path, "e.yaml", id="e", effective_from="2026-04-01T00:00:00")
    write_fence(tmp_path, ".f.yaml.tmp", id="f", reason=None)  # a publisher's temporary: not read
    assert problems_of(tmp_path) == [
        ("a.yaml", "exit_within_s"),
        ("a.yaml", "reason"),
        ("b.yaml", "until"),
        ("b.yaml", "colour"),
        ("c.yaml", "vehicle_classes"),
        ("c.yaml", "polygon"),
        ("e.yaml", "effective_from"),
    ]


def test_an_unknown_key_names_the_fence_fields(tmp_path: Path) -> None:
    with pytest.raises(ZoneConfigError) as caught:
        load_fence(write_fence(tmp_path, exit_within=60))
    (problem,) = caught.value.problems
    assert problem.message == (
        "unknown field 'exit_within': did you mean 'exit_within_s'? allowed here: id, pilot_zone, polygon, "
        "vehicle_classes, effective_from, until, exit_within_s, severity, reason"
    )


def test_a_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ZoneConfigError) as caught:
        load_fence(path)
    assert (
        str(caught.value)
        == f"{path}:1: a fence is a mapping (id: ..., polygon: ..., effective_from: ...), got a list"
    )
