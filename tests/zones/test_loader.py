"""Loading zone configs: every problem reported at once, geometry resolved and checked."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import shapely

from pilotzone.zones import ConfigProblem, ZoneConfigError, geodesic_area_m2, load_zone, load_zones
from pilotzone.zones.geometry import GAP_CLOSING_DEG
from pilotzone.zones.index import AreaIndex
from tests.zones import geometries as g

INVALID_MUNICIPALITIES = Path(__file__).parent / "data" / "invalid-municipalities.geojson"


def problems_of(paths: list[Path], **kwargs: Any) -> list[ConfigProblem]:
    with pytest.raises(ZoneConfigError) as caught:
        load_zones(paths, **kwargs)
    return caught.value.problems


def located(problems: list[ConfigProblem]) -> list[tuple[str, str]]:
    return [(p.location, p.message) for p in problems]


def write_text(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# --- a valid config ----------------------------------------------------------------------


def test_valid_config_loads_with_resolved_areas(tmp_path: Path) -> None:
    zone = load_zone(g.write_yaml(tmp_path / "zone.yaml", g.base_config()))

    assert zone.zone_id == "testzone"
    assert list(zone.areas) == ["district", "school", "corridor", "depot", "restricted"]
    assert zone.areas["school"].kind == "school_zone"
    assert zone.areas["school"].area_m2 == pytest.approx(300 * 300, rel=1e-3)
    assert zone.areas["district"].area_m2 == pytest.approx(5000 * 5000, rel=1e-3)
    assert geodesic_area_m2(zone.boundary) == pytest.approx(10_000 * 10_000, rel=1e-3)
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", zone.version)
    assert zone.source == tmp_path / "zone.yaml"
    assert (zone.repaired, zone.warnings) == ((), ())
    assert [r.id for r in zone.rules_of_kind("speed_limit")] == [
        "zone-speed",
        "district-speed",
        "school-speed",
        "corridor-speed",
    ]


def test_unknown_rule_kind_is_an_error() -> None:
    zone_path = Path(__file__).parents[2] / "zones" / "configs" / "sejong.yaml"
    with pytest.raises(ValueError, match="unknown rule kind 'speed'"):
        load_zone(zone_path).rules_of_kind("speed")


def test_unquoted_clock_times_are_read_as_times(tmp_path: Path) -> None:
    # YAML 1.1 makes 22:00 the integer 1320; the loader reads configs with YAML 1.2 scalars.
    config = g.base_config()
    config["rules"].append(
        {
            "id": "hours",
            "kind": "operating_hours",
            "permitted": [{"start": "PLACEHOLDER_START", "end": "24:00"}],
        }
    )
    path = g.write_yaml(tmp_path / "zone.yaml", config)
    path.write_text(path.read_text().replace("PLACEHOLDER_START", "22:00").replace("'24:00'", "24:00"))
    assert "start: 22:00\n" in path.read_text()
    (window,) = load_zone(path).rules_of_kind("operating_hours")[0].permitted  # type: ignore[union-attr]
    assert (str(window.start), window.ends_at_midnight) == ("22:00:00", True)


# --- schema problems, all at once ----------------------------------------------------------

SCHEMA_ERRORS_YAML = """
zone_id: Bad Zone
name: Broken
timezone: Europe/Gwangju
boundary: [1, 2]
operators:
  - id: op-a
    vehicle_classes: [ROBOTAXI, TAXI]
areas:
  - id: school
    name: School
    kind: school_zone
    geometry:  # a bow-tie: the ring crosses itself
      {type: Polygon, coordinates: [[[127.0, 37.0], [127.002, 37.002], [127.002, 37.0], [127.0, 37.002], [127.0, 37.0]]]}
rules:
  - id: zone-speed
    kind: speed_limit
    limit_kmh: -5
  - id: school-speed
    kind: speed_limit
    limt_kmh: 30
    applies: {areas: [shcool]}
  - id: typo-kind
    kind: speedlimit
  - id: zone-speed
    kind: telemetry_gap
    max_gap_s: 10
  - id: no-areas
    kind: restricted_area
"""


def test_schema_problems_are_all_reported_with_location_line_and_fix(tmp_path: Path) -> None:
    path = write_text(tmp_path / "broken.yaml", SCHEMA_ERRORS_YAML)

    problems = problems_of([path])

    assert {p.file for p in problems} == {str(path)}
    assert [(p.location, p.line, p.message) for p in problems] == [
        ("zone_id", 1, "String should match pattern '^[a-z0-9][a-z0-9_-]*$' (got 'Bad Zone')"),
        (
            "timezone",
            3,
            "unknown IANA timezone 'Europe/Gwangju': use a name such as 'Asia/Seoul' (names of the IANA tz "
            "database only: host-specific names such as 'localtime', file paths and offsets such as 'UTC+9' "
            "would make schedules follow the machine, not the config)",
        ),
        (
            "boundary",
            4,
            "expected a GeoJSON Geometry or Feature mapping, or {file: some.geojson, where: {property: value}}, got list",
        ),
        (
            "operators[0] (op-a).vehicle_classes[1]",
            7,
            "Input should be 'CAR', 'ROBOTAXI', 'SHUTTLE', 'BUS', 'TRUCK', 'DELIVERY_ROBOT', 'PARKING_ROBOT' or "
            "'OTHER' (got 'TAXI')",
        ),
        ("rules[0] (zone-speed).limit_kmh", 17, "Input should be greater than 0 (got -5)"),
        ("rules[1] (school-speed).limit_kmh", 18, "required field 'limit_kmh' is missing: add it"),
        (
            "rules[1] (school-speed).limt_kmh",
            20,
            "unknown field 'limt_kmh': did you mean 'limit_kmh'? allowed here: id, description, severity, applies, "
            "priority, kind, limit_kmh, tolerance_kmh, grace_s",
        ),
        (
            "rules[2] (typo-kind)",
            22,
            "unknown rule kind 'speedlimit' (did you mean 'speed_limit'?): use one of speed_limit, leave_boundary, "
            "restricted_area, operating_hours, telemetry_gap, driving_mode, dwell, permit, vehicle_event",
        ),
        (
            "rules[4] (no-areas)",
            27,
            "a restricted_area rule needs applies.areas: the ids of the areas vehicles must not enter",
        ),
        (
            "rules[3] (zone-speed).id",
            24,
            "duplicate rule id 'zone-speed' (also rules[0]): give every rule its own id",
        ),
        (
            "rules[1] (school-speed).applies.areas[0]",
            21,
            "unknown area 'shcool': did you mean 'school'? known areas: school (define it under areas: or fix the id)",
        ),
        (
            "areas[0] (school).geometry",
            12,
            "invalid polygon: Self-intersection at 127.001000 37.001000: fix the polygon in the source data, or load with "
            "--repair-geometry (repair_geometry=True) to repair it with shapely.make_valid and review the result",
        ),
    ]


def test_error_text_lists_one_problem_per_line(tmp_path: Path) -> None:
    path = write_text(tmp_path / "broken.yaml", SCHEMA_ERRORS_YAML)
    with pytest.raises(ZoneConfigError) as caught:
        load_zone(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 12
    assert lines[4] == f"{path}:17: rules[0] (zone-speed).limit_kmh: Input should be greater than 0 (got -5)"
    assert isinstance(caught.value, ValueError)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write_text(
        tmp_path / "bad.yaml",
        """
        zone_id: z
        name: [unclosed
        timezone: Asia/Seoul
        """,
    )
    (problem,) = problems_of([path])
    assert (problem.location, problem.line) == ("line 3, column 9", 3)
    assert problem.message.startswith(
        "YAML syntax error: while parsing a flow sequence did not find expected ',' or ']'"
    )
    assert problem.message.endswith("fix the YAML (check indentation, colons and quotes)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a zone config is a YAML mapping (zone_id: ..., rules: ...), got an empty file"),
        ("- a\n- b\n", "a zone config is a YAML mapping (zone_id: ..., rules: ...), got a list"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    (problem,) = problems_of([write_text(tmp_path / "z.yaml", text)])
    assert problem.message == message


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    path = g.write_yaml(tmp_path / "zone.yaml", g.base_config())
    text = path.read_text().replace("  limit_kmh: 30\n", "  limit_kmh: 30\n  limit_kmh: 60\n", 1)
    path.write_text(text)
    line = text.splitlines().index("  limit_kmh: 60") + 1
    (problem,) = problems_of([path])
    assert (problem.location, problem.line) == ("rules[2] (school-speed).limit_kmh", line)
    assert problem.message == (
        f"key 'limit_kmh' appears twice (first on line {line - 1}): YAML keeps only the last one, delete one of them"
    )


def test_duplicate_area_and_operator_ids(tmp_path: Path) -> None:
    config = g.base_config()
    config["areas"].append({**config["areas"][1], "name": "Second school"})
    config["operators"].append({"id": "op-a", "vehicle_classes": ["BUS"]})
    problems = problems_of([g.write_yaml(tmp_path / "zone.yaml", config)])
    assert located(problems) == [
        ("areas[5] (school).id", "duplicate area id 'school' (also areas[1]): give every area its own id"),
        (
            "operators[2] (op-a).id",
            "duplicate operator id 'op-a' (also operators[0]): give every operator its own id",
        ),
    ]


# --- geometry problems -------------------------------------------------------------------


def _with_area_geometry(tmp_path: Path, geometry: Any) -> Path:
    config = g.base_config()
    config["areas"][1]["geometry"] = geometry
    return g.write_yaml(tmp_path / "zone.yaml", config)


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (
            {"type": "LineString", "coordinates": [[127.0, 37.0], [127.01, 37.01]]},
            "geometry is a LineString: boundaries and areas must be a Polygon or MultiPolygon",
        ),
        (
            {"type": "Polygon", "coordinates": []},
            "geometry is empty: give at least one polygon with coordinates",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[37.0, 127.0], [37.01, 127.0], [37.01, 127.01], [37.0, 127.0]]],
            },
            "latitude 127.01 is out of range: the coordinates look like [latitude, longitude]; "
            "GeoJSON order is [longitude, latitude]",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[955000, 1950000], [956000, 1950000], [956000, 1951000], [955000, 1950000]]],
            },
            "coordinates span x 955000..956000, y 1.95e+06..1.951e+06, outside longitude -180..180 / latitude -90..90: "
            "give WGS 84 degrees (projected metres such as EPSG:5179 must be converted)",
        ),
        (
            {"type": "Polygon", "coordinates": "nope"},
            "not a readable GeoJSON geometry (ValueError: could not convert string to float: 'n'): check 'type' and "
            "'coordinates'",
        ),
        (
            {"file": "areas.geojson", "wher": {"id": "x"}},
            "unknown field 'wher': did you mean 'where'? allowed here: file, where",
        ),
        (
            {"type": "FeatureCollection", "features": []},
            "inline FeatureCollections are not accepted: put the features in a GeoJSON file and use "
            "{file: ..., where: {...}}, or give a single Polygon/MultiPolygon",
        ),
        (
            {"coordinates": [[[127.0, 37.0]]]},
            "expected a GeoJSON Geometry or Feature (with 'type') or a geometry source "
            "{file: some.geojson, where: {property: value}}",
        ),
    ],
)
def test_bad_inline_geometry(tmp_path: Path, geometry: Any, message: str) -> None:
    problems = problems_of([_with_area_geometry(tmp_path, geometry)])
    (problem,) = problems
    assert problem.message == message
    assert problem.location.startswith("areas[1] (school).geometry")


def test_inline_feature_is_accepted(tmp_path: Path) -> None:
    zone = load_zone(
        _with_area_geometry(tmp_path, {"type": "Feature", "properties": {}, "geometry": g.SCHOOL})
    )
    assert zone.areas["school"].geometry.equals(shapely.geometry.shape(g.SCHOOL))


def _features_file(path: Path, features: list[tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    collection = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": p, "geometry": geom} for p, geom in features],
    }
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path


def test_geometry_file_problems(tmp_path: Path) -> None:
    _features_file(tmp_path / "areas.geojson", [({"code": "A1"}, g.SCHOOL), ({"code": "A2"}, g.DEPOT)])
    config = g.base_config()
    config["areas"][1]["geometry"] = {"file": "areas.geojson", "where": {"code": "A3"}}
    config["areas"][3]["geometry"] = {"file": "missing.geojson", "where": {"code": "A1"}}
    config["areas"][4]["geometry"] = {"file": "areas.geojson", "where": {"name": "x"}}
    problems = problems_of([g.write_yaml(tmp_path / "zone.yaml", config)])
    assert located(problems) == [
        (
            "areas[1] (school).geometry.where",
            f"no feature of 2 in {tmp_path / 'areas.geojson'} has code = 'A3'; code values there include 'A1', 'A2': "
            "fix the where: filter",
        ),
        (
            "areas[3] (depot).geometry.file",
            f"geometry file {tmp_path / 'missing.geojson'} not found (paths are relative to the zone config)",
        ),
        (
            "areas[4] (restricted).geometry.where",
            f"no feature of 2 in {tmp_path / 'areas.geojson'} has name = 'x'; no feature has a property 'name' "
            "(properties there: code)",
        ),
    ]


def test_geometry_file_that_is_not_json_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "areas.geojson").write_text('{"type": "FeatureCollection",\n "features": [,]}')
    config = g.base_config()
    config["areas"][1]["geometry"] = {"file": "areas.geojson", "where": {"code": "A1"}}
    config["areas"][3]["geometry"] = {"file": "areas.geojson", "where": {"code": "A2"}}
    problems = problems_of([g.write_yaml(tmp_path / "zone.yaml", config)])
    assert [(p.file, p.location, p.message) for p in problems] == [
        (str(tmp_path / "areas.geojson"), "line 2, column 15", "not valid JSON: Expecting value")
    ]


def test_area_entirely_outside_is_a_problem_partly_outside_a_warning(tmp_path: Path) -> None:
    config = g.base_config()
    config["areas"][3]["geometry"] = g.square(8000, 0, 500)
    config["areas"][4]["geometry"] = g.rectangle(4000, -500, 6000, 500)
    problems = problems_of([g.write_yaml(tmp_path / "zone.yaml", config)])
    assert located(problems) == [
        (
            "areas[3] (depot).geometry",
            "area 'depot' lies entirely outside the zone boundary: check its coordinates (GeoJSON is "
            "[longitude, latitude]) or remove it",
        )
    ]
    config["areas"][3]["geometry"] = g.DEPOT
    zone = load_zone(g.write_yaml(tmp_path / "zone.yaml", config))
    assert zone.warnings == (
        "area 'restricted' extends 1.000 km² (50%) beyond the zone boundary; rules scoped to it still apply out there",
    )


# --- the invalid municipal polygons --------------------------------------------------------


def _municipality_zone(tmp_path: Path, name: str, code: str) -> Path:
    config = g.base_config()
    config["zone_id"] = name
    config["boundary"] = {"file": str(INVALID_MUNICIPALITIES), "where": {"sgg_code": code}}
    config["areas"] = []
    config["rules"] = [rule for rule in config["rules"] if rule["id"] in {"zone-speed", "stay-in", "permit"}]
    return g.write_yaml(tmp_path / f"{name}.yaml", config)


def test_invalid_municipal_polygons_are_refused_with_the_defect(tmp_path: Path) -> None:
    dalseo = _municipality_zone(tmp_path, "dalseo", "27290")
    danwon = _municipality_zone(tmp_path, "danwon", "41273")

    problems = problems_of([dalseo, danwon], geometry_root=INVALID_MUNICIPALITIES.parent.parent)

    hint = (
        "fix the polygon in the source data, or load with --repair-geometry (repair_geometry=True) to repair it "
        "with shapely.make_valid and review the result"
    )
    assert [(p.file, p.location, p.message) for p in problems] == [
        (
            str(INVALID_MUNICIPALITIES),
            "features[0] (sgg_code=27290)",
            f"invalid polygon: Nested shells at 128.518032 35.826770: {hint} (used for boundary in dalseo.yaml)",
        ),
        (
            str(INVALID_MUNICIPALITIES),
            "features[1] (sgg_code=41273)",
            f"invalid polygon: Ring Self-intersection at 126.789233 37.340244: {hint} (used for boundary in danwon.yaml)",
        ),
    ]


def test_invalid_municipal_polygons_are_repaired_only_when_asked(tmp_path: Path) -> None:
    dalseo = _municipality_zone(tmp_path, "dalseo", "27290")
    danwon = _municipality_zone(tmp_path, "danwon", "41273")

    zones = load_zones([dalseo, danwon], repair_geometry=True, geometry_root=INVALID_MUNICIPALITIES.parent)

    assert [z.repaired for z in zones] == [
        (
            f"boundary ({INVALID_MUNICIPALITIES} features[0] (sgg_code=27290)): Nested shells at 128.518032 "
            "35.826770; repaired with make_valid",
        ),
        (
            f"boundary ({INVALID_MUNICIPALITIES} features[1] (sgg_code=41273)): Ring Self-intersection at "
            "126.789233 37.340244; repaired with make_valid",
        ),
    ]
    source = json.loads(INVALID_MUNICIPALITIES.read_text(encoding="utf-8"))["features"]
    for zone, feature in zip(zones, source, strict=True):
        original = shapely.geometry.shape(feature["geometry"])
        assert zone.boundary.is_valid
        assert zone.boundary.geom_type in {"Polygon", "MultiPolygon"}
        # The repair keeps the municipality's area: nothing is dropped or doubled.
        assert zone.boundary.area == pytest.approx(shapely.union_all(list(original.geoms)).area, rel=1e-6)


# --- merging districts -------------------------------------------------------------------


def test_merging_features_closes_slivers_but_keeps_real_gaps(tmp_path: Path) -> None:
    # Two districts with a 4 m sliver between them, a 10 m pinhole, and a 2 km-wide real gap
    # to a third district.
    west = g.rectangle(-5000, -2000, -2, 2000)
    east_with_pinhole = {
        "type": "Polygon",
        "coordinates": [
            g.rectangle(2, -2000, 2000, 2000)["coordinates"][0],
            g.rectangle(1000, 0, 1010, 10)["coordinates"][0],
        ],
    }
    far = g.rectangle(4000, -2000, 5000, 2000)
    _features_file(
        tmp_path / "districts.geojson",
        [
            ({"city": "c", "gu": "w"}, west),
            ({"city": "c", "gu": "e"}, east_with_pinhole),
            ({"city": "c", "gu": "f"}, far),
        ],
    )
    config = g.base_config()
    config["boundary"] = {"file": "districts.geojson", "where": {"city": "c"}}
    config["areas"] = []
    config["rules"] = [{"id": "stay-in", "kind": "leave_boundary"}, {"id": "permit", "kind": "permit"}]
    zone = load_zone(g.write_yaml(tmp_path / "zone.yaml", config))

    index = AreaIndex(zone)
    in_sliver, in_pinhole, in_real_gap = g.lonlat(0, 500), g.lonlat(1005, 5), g.lonlat(3000, 0)
    lon, lat = zip(in_sliver, in_pinhole, in_real_gap, strict=True)
    assert index.inside_boundary(lon, lat).tolist() == [True, True, False]
    assert zone.boundary.geom_type == "MultiPolygon"
    assert len(zone.boundary.geoms) == 2
    # Closing adds only the gaps: the outer edge stays within a hair of the districts.
    union = shapely.union_all([shapely.geometry.shape(x) for x in (west, east_with_pinhole, far)])
    assert zone.boundary.difference(union.buffer(GAP_CLOSING_DEG / 100)).area == pytest.approx(
        shapely.box(*g.lonlat(-2, -2000), *g.lonlat(2, 2000)).area, rel=0.05
    )


# --- several files -----------------------------------------------------------------------


def test_folders_are_loaded_sorted_and_duplicate_zone_ids_reported(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    first = g.base_config()
    second = g.base_config()
    second["zone_id"] = "other"
    g.write_yaml(folder / "b.yaml", first)
    g.write_yaml(folder / "a.yml", second)
    (folder / "notes.txt").write_text("not a config")
    assert [z.zone_id for z in load_zones([folder])] == ["other", "testzone"]

    g.write_yaml(tmp_path / "again.yaml", first)
    problems = problems_of([folder, tmp_path / "again.yaml"])
    assert [(p.file, p.location, p.message) for p in problems] == [
        (
            str(tmp_path / "again.yaml"),
            "zone_id",
            f"zone_id 'testzone' is also used by {folder / 'b.yaml'}: every zone needs its own id, or, for "
            "versions of one zone, give each an effective_from (and each but the last an until)",
        )
    ]


def test_problems_of_every_file_are_collected(tmp_path: Path) -> None:
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    bad = g.base_config()
    bad["rules"][0]["limit_kmh"] = 0
    problems = problems_of(
        [tmp_path / "nowhere.yaml", empty_folder, g.write_yaml(tmp_path / "bad.yaml", bad)]
    )
    assert [(p.file, p.location, p.message) for p in problems] == [
        (str(tmp_path / "nowhere.yaml"), "", "no such file or folder"),
        (str(empty_folder), "", "folder has no *.yaml or *.yml zone configs"),
        (
            str(tmp_path / "bad.yaml"),
            "rules[0] (zone-speed).limit_kmh",
            "Input should be greater than 0 (got 0)",
        ),
    ]


def test_load_zone_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ZoneConfigError, match="is a folder: pass a YAML file, or use load_zones"):
        load_zone(tmp_path)


def test_precedence_ties_are_warned_about(tmp_path: Path) -> None:
    config = g.base_config()
    config["rules"].append(
        {
            "id": "robot-speed",
            "kind": "speed_limit",
            "limit_kmh": 10,
            "applies": {"vehicle_classes": ["DELIVERY_ROBOT"]},
        }
    )
    # A night-only rule does not tie with a day-only one.
    config["rules"].append(
        {
            "id": "night-school-speed",
            "kind": "speed_limit",
            "limit_kmh": 40,
            "applies": {"areas": ["school"], "schedule": [{"start": "22:00", "end": "06:00"}]},
        }
    )
    config["rules"][2]["applies"]["schedule"] = [{"start": "06:00", "end": "22:00"}]
    zone = load_zone(g.write_yaml(tmp_path / "zone.yaml", config))
    assert zone.warnings == (
        "speed_limit rules 'robot-speed' and 'zone-speed' both apply zone-wide to the same vehicles at overlapping "
        "times with equal priority, so only rule-id order makes 'robot-speed' win: give one an explicit priority or "
        "narrow its vehicle_classes or schedule",
    )


# --- version -----------------------------------------------------------------------------

ZONE_YAML = """
# A zone with comments.
zone_id: versioned
name: Versioned zone
boundary:
  type: Polygon
  coordinates: [[[127.0, 37.0], [127.1, 37.0], [127.1, 37.1], [127.0, 37.1], [127.0, 37.0]]]
operators:
  - {id: op, vehicle_classes: [CAR]}
rules:
  - id: speed
    kind: speed_limit
    limit_kmh: 50
  - id: hours
    kind: operating_hours
    permitted: [{start: "06:00", end: "24:00"}]
"""

ZONE_YAML_REFORMATTED = """
rules:
- limit_kmh: 50.0     # same limit, written as a float
  kind: speed_limit
  id: speed
  tolerance_kmh: 0    # the default, written out
- kind: operating_hours
  id: hours
  permitted:
  - start: '06:00'
    end: '24:00'
boundary: {type: Polygon, coordinates: [[[127.0, 37.0], [127.1, 37.0], [127.1, 37.1], [127.0, 37.1], [127.0, 37.0]]]}
name: "Versioned zone"
operators: [{vehicle_classes: [CAR], id: op}]
timezone: Asia/Seoul
zone_id: versioned
"""


def test_version_ignores_formatting_and_follows_content(tmp_path: Path) -> None:
    original = load_zone(write_text(tmp_path / "a.yaml", ZONE_YAML))
    reformatted = load_zone(write_text(tmp_path / "b.yaml", ZONE_YAML_REFORMATTED))
    faster = load_zone(write_text(tmp_path / "c.yaml", ZONE_YAML.replace("limit_kmh: 50", "limit_kmh: 60")))
    moved = load_zone(write_text(tmp_path / "d.yaml", ZONE_YAML.replace("[127.1, 37.1]", "[127.1, 37.11]")))
    # The same ring started at another vertex is the same shape.
    rotated = load_zone(
        write_text(
            tmp_path / "e.yaml",
            ZONE_YAML.replace(
                "[[[127.0, 37.0], [127.1, 37.0], [127.1, 37.1], [127.0, 37.1], [127.0, 37.0]]]",
                "[[[127.1, 37.0], [127.1, 37.1], [127.0, 37.1], [127.0, 37.0], [127.1, 37.0]]]",
            ),
        )
    )
    assert reformatted.version == original.version == rotated.version
    assert len({original.version, faster.version, moved.version}) == 3


def test_version_follows_geometry_data_not_file_names(tmp_path: Path) -> None:
    _features_file(tmp_path / "one.geojson", [({"k": "v"}, g.BOUNDARY)])
    shutil.copy(tmp_path / "one.geojson", tmp_path / "two.geojson")
    config = g.base_config()
    config["boundary"] = {"file": "one.geojson", "where": {"k": "v"}}
    first = load_zone(g.write_yaml(tmp_path / "one.yaml", config))
    config["boundary"] = {"file": "two.geojson", "where": {"k": "v"}}
    second = load_zone(g.write_yaml(tmp_path / "two.yaml", config))
    _features_file(tmp_path / "two.geojson", [({"k": "v"}, g.square(0, 0, 4900))])
    third = load_zone(tmp_path / "two.yaml")
    assert first.version == second.version != third.version
