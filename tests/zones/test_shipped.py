"""The zone configs shipped in zones/configs: valid, complete, and meaning what they say."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely

from pilotzone.zones import SHIPPED_CONFIGS, Zone, area_index, geodesic_area_m2, load_zones
from pilotzone.zones.model import (
    RULE_KINDS,
    AreaKind,
    DrivingMode,
    DrivingModeRule,
    EventKind,
    Severity,
    SpeedLimitRule,
    TelemetryGapRule,
    VehicleClass,
    VehicleEventRule,
)
from pilotzone.zones.rules import rules_at, winning_rule

DATA = SHIPPED_CONFIGS.parent / "data"
ATTRIBUTION = (
    "This data is derived from administrative boundaries released by Statistics Korea SGIS "
    "(https://sgis.kostat.go.kr) under the Korea Open Government License Type 1 (attribution), as processed by "
    "vuski/admdongkor (https://github.com/vuski/admdongkor)."
)
SEOUL = ZoneInfo("Asia/Seoul")
TUESDAY_0815 = dt.datetime(2025, 3, 4, 8, 15, tzinfo=SEOUL)


@pytest.fixture(scope="module")
def zones() -> dict[str, Zone]:
    return {zone.zone_id: zone for zone in load_zones([SHIPPED_CONFIGS])}


def centre(zone: Zone, area_id: str) -> tuple[float, float]:
    point = zone.areas[area_id].geometry.representative_point()
    return point.x, point.y


def speed_rule(
    zone: Zone, lon: float, lat: float, cls: VehicleClass, when: dt.datetime = TUESDAY_0815
) -> str:
    areas = area_index(zone).area_sets([lon], [lat])[0]
    applied = winning_rule(zone, "speed_limit", areas, when, cls)
    assert applied is not None
    return applied.rule.id


def test_three_zones_load_without_repair_or_warnings(zones: dict[str, Zone]) -> None:
    assert sorted(zones) == ["gwangju", "sejong", "seoul-gangnam"]
    for zone in zones.values():
        assert (zone.repaired, zone.warnings) == ((), ())
        assert zone.config.timezone == "Asia/Seoul"
        # Inside up to floating-point noding of the merged boundary (well under a square metre).
        assert max(geodesic_area_m2(a.geometry.difference(zone.boundary)) for a in zone.areas.values()) < 1.0


@pytest.mark.parametrize("zone_id", ["gwangju", "sejong", "seoul-gangnam"])
def test_every_zone_has_every_rule_kind_and_the_required_rules(zones: dict[str, Zone], zone_id: str) -> None:
    zone = zones[zone_id]
    assert {rule.kind for rule in zone.rules} == set(RULE_KINDS)
    kinds = [area.kind for area in zone.areas.values()]
    assert kinds.count(AreaKind.SCHOOL_ZONE) >= 3
    restricted_ids = {a for r in zone.rules_of_kind("restricted_area") for a in r.applies.areas or []}
    assert len(restricted_ids) == 2
    assert all(
        0.9e5 < area.area_m2 < 3e5 for area in zone.areas.values() if area.kind == AreaKind.SCHOOL_ZONE
    )

    gaps = [r for r in zone.rules_of_kind("telemetry_gap") if isinstance(r, TelemetryGapRule)]
    assert [g.max_gap_s for g in gaps] == [10]
    events = {
        r.event: r
        for r in zone.rules_of_kind("vehicle_event")
        if isinstance(r, VehicleEventRule) and not r.applies.areas
    }
    assert set(events) == {
        EventKind.DISENGAGEMENT,
        EventKind.REMOTE_TAKEOVER,
        EventKind.MINIMAL_RISK_MANOEUVRE,
        EventKind.COLLISION,
    }
    assert (events[EventKind.COLLISION].severity, events[EventKind.COLLISION].report_within_h) == (
        Severity.CRITICAL,
        24,
    )
    (school_mode,) = (
        r for r in zone.rules_of_kind("driving_mode") if isinstance(r, DrivingModeRule) and r.applies.areas
    )
    assert (school_mode.allowed_modes, school_mode.severity) == (
        [DrivingMode.MANUAL, DrivingMode.REMOTE_OPERATED],
        Severity.MAJOR,
    )
    school_areas = {a.id for a in zone.areas.values() if a.kind == AreaKind.SCHOOL_ZONE}
    assert set(school_mode.applies.areas or []) == school_areas

    speeds = {r.id: r for r in zone.rules_of_kind("speed_limit") if isinstance(r, SpeedLimitRule)}
    zone_wide_road = [
        r
        for r in speeds.values()
        if r.applies.areas is None and VehicleClass.CAR in (r.applies.vehicle_classes or [])
    ]
    assert [r.limit_kmh for r in zone_wide_road] == [50]
    assert speeds["school-speed"].limit_kmh == 30
    assert max(r.limit_kmh for r in speeds.values()) > 50  # an inner area relaxes the limit
    assert speeds["robot-sidewalk-speed"].limit_kmh == 6
    permitted = sum(op.max_vehicles or 0 for op in zone.config.operators)
    assert permitted == zone.config.max_vehicles


def test_gwangju_is_the_whole_city_with_its_districts(zones: dict[str, Zone]) -> None:
    zone = zones["gwangju"]
    districts = [a for a in zone.areas.values() if a.kind == AreaKind.DISTRICT]
    assert [d.id for d in districts] == [
        "gwangju-dong-gu",
        "gwangju-seo-gu",
        "gwangju-nam-gu",
        "gwangju-buk-gu",
        "gwangju-gwangsan-gu",
    ]
    assert zone.config.max_vehicles == 200
    assert sum(d.area_m2 for d in districts) / 1e6 == pytest.approx(501, rel=0.02)
    # Every vertex of every district, shared borders included, is inside the city boundary.
    coords = np.concatenate([shapely.get_coordinates(d.geometry) for d in districts])
    assert area_index(zone).inside_boundary(coords[:, 0], coords[:, 1]).all()


def test_gwangju_precedence_tightens_and_relaxes(zones: dict[str, Zone]) -> None:
    zone = zones["gwangju"]
    school = centre(zone, "gwangju-school-1")
    assert speed_rule(zone, *school, VehicleClass.ROBOTAXI) == "school-speed"
    (speed,) = (
        a for a in rules_at(zone, *school, TUESDAY_0815, VehicleClass.ROBOTAXI) if a.kind == "speed_limit"
    )
    assert speed.overridden == ("dong-gu-speed", "city-speed")
    assert speed.explanation.startswith(
        "speed_limit school-speed (30 km/h in school zone gwangju-school-1 'Elementary school zone near the Asia "
        "Culture Center, Dong-gu') applies: innermost area, takes precedence over dong-gu-speed (40 km/h in district "
        "gwangju-dong-gu) and city-speed (50 km/h zone-wide)"
    )
    assert speed_rule(zone, *centre(zone, "gwangju-ring-road"), VehicleClass.BUS) == "ring-road-speed"
    assert speed_rule(zone, *centre(zone, "gwangju-cheomdan-sidewalks"), VehicleClass.DELIVERY_ROBOT) == (
        "robot-sidewalk-speed"
    )


def test_sejong_school_zone_wins_over_the_narrower_busway_by_priority(zones: dict[str, Zone]) -> None:
    zone = zones["sejong"]
    overlap = zone.areas["sejong-school-hansol"].geometry.intersection(
        zone.areas["sejong-brt-corridor"].geometry
    )
    point = overlap.representative_point()
    assert zone.areas["sejong-brt-corridor"].area_m2 < zone.areas["sejong-school-hansol"].area_m2
    assert speed_rule(zone, point.x, point.y, VehicleClass.BUS) == "school-speed"
    outside_school = zone.areas["sejong-brt-corridor"].geometry.difference(
        zone.areas["sejong-school-hansol"].geometry
    )
    point = outside_school.representative_point()
    assert speed_rule(zone, point.x, point.y, VehicleClass.BUS) == "brt-speed"
    assert speed_rule(zone, point.x, point.y, VehicleClass.ROBOTAXI) == "city-speed"


def test_gangnam_school_limit_is_daytime_and_robotaxi_hours_run_past_midnight(zones: dict[str, Zone]) -> None:
    zone = zones["seoul-gangnam"]
    school = centre(zone, "gangnam-school-daechi")
    assert speed_rule(zone, *school, VehicleClass.ROBOTAXI) == "school-speed"
    assert speed_rule(
        zone, *school, VehicleClass.ROBOTAXI, dt.datetime(2025, 3, 4, 23, 30, tzinfo=SEOUL)
    ) == ("district-speed")
    (hours,) = (r for r in zone.rules_of_kind("operating_hours") if r.id == "hours-robotaxi")
    (window,) = hours.permitted  # type: ignore[union-attr]
    friday_night, saturday_morning, saturday_night = (
        dt.datetime(2025, 3, 7, 23, 30),
        dt.datetime(2025, 3, 8, 4, 30),
        dt.datetime(2025, 3, 8, 23, 30),
    )
    assert [window.contains(t) for t in (friday_night, saturday_morning, saturday_night)] == [
        True,
        True,
        False,
    ]


def test_data_readmes_keep_the_attribution_verbatim() -> None:
    tests_data = Path(__file__).parent / "data"
    for readme in (DATA / "README.md", tests_data / "README.md"):
        assert ATTRIBUTION in readme.read_text(encoding="utf-8")


def _extract_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("extract", DATA / "extract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_subset_is_exactly_what_extract_writes(tmp_path: Path) -> None:
    extract = _extract_module()
    shipped = DATA / "municipalities-subset.geojson"
    collection = json.loads(shipped.read_text(encoding="utf-8"))
    assert [f["properties"]["sgg_code"] for f in collection["features"]] == list(extract.DEFAULT_CODES)
    # Re-extracting from the subset itself reproduces it byte for byte.
    source = tmp_path / "source.geojson"
    source.write_text(json.dumps({**collection, "name": "korea_municipalities_2022"}), encoding="utf-8")
    assert extract.main([str(source), "-o", str(tmp_path / "out.geojson")]) == 0
    assert (tmp_path / "out.geojson").read_bytes() == shipped.read_bytes()
    assert extract.main([str(source), "-o", str(tmp_path / "x.geojson"), "--code", "99999"]) == 1
