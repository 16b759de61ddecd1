"""Export then import gives back equivalent rules; exported shipped configs validate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import shapely
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotzone.zones import Zone, load_zone, load_zones
from pilotzone.zones.mds.exporter import export_zone
from pilotzone.zones.mds.files import export_files, export_schema_errors, import_documents, write_zone
from pilotzone.zones.mds.importer import ImportOptions
from pilotzone.zones.rules import rules_at

SHIPPED = Path(__file__).parents[3] / "zones" / "configs"
PUBLISHED_MS = 1_764_547_200_000
CLASS_GROUPS = (
    ("CAR", "ROBOTAXI"),
    ("BUS", "SHUTTLE"),
    ("TRUCK",),
    ("DELIVERY_ROBOT",),
    ("OTHER", "PARKING_ROBOT"),
)
"""Class sets an MDS vehicle type names exactly (``car`` is CAR and ROBOTAXI ...)."""


def test_shipped_configs_export_as_valid_mds_2_0(tmp_path: Path) -> None:
    zones = load_zones([SHIPPED])
    reports = export_files(zones, tmp_path, PUBLISHED_MS)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{z.zone_id}.{suffix}.json" for z in zones for suffix in ("policy", "geographies")
    )
    for zone in zones:
        policy = json.loads((tmp_path / f"{zone.zone_id}.policy.json").read_text("utf-8"))
        geographies = json.loads((tmp_path / f"{zone.zone_id}.geographies.json").read_text("utf-8"))
        assert export_schema_errors(policy, geographies) == []
        assert policy["version"] == "2.0.0"
    sejong = next(r for r in reports if r.zone_id == "sejong")
    statuses = {r.rule_id: r.status for r in sejong.rules}
    assert statuses["school-speed"] == "approximated"  # PARKING_ROBOT rides along with other
    assert statuses["government-complex-no-entry"] == "exported"
    assert statuses["permit"] == "not_exported"


def test_an_export_that_breaks_the_schema_is_caught() -> None:
    zone = load_zone(SHIPPED / "sejong.yaml")
    policy, geographies, _ = export_zone(zone, PUBLISHED_MS)
    policy["data"]["policies"][0]["rules"][0]["maximum"] = 1.5
    geographies["updated"] = 0
    assert export_schema_errors(policy, geographies) == [
        "policy: data.policies[0].rules[0].maximum: 1.5 is not of type 'null', 'integer'",
        "geographies: updated: 0 is less than the minimum of 1514764800000",
    ]


def _box(x0: float, y0: float, w: float, h: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h], [x0, y0]]],
    }


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """A zone in a 0.1 degree square with up to three box areas and speed, dwell and
    restricted-area rules over them, with class sets and one-window schedules MDS can say."""
    areas = []
    for i in range(draw(st.integers(1, 3))):
        x, y = draw(st.integers(0, 60)), draw(st.integers(0, 60))
        w, h = draw(st.integers(5, 39)), draw(st.integers(5, 39))
        areas.append(
            {
                "id": f"a{i}",
                "name": f"area {i}",
                "kind": "other",
                "geometry": _box(127 + x / 1000, 37 + y / 1000, w / 1000, h / 1000),
            }
        )
    rules = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["speed_limit", "dwell", "restricted_area"]))
        applies: dict[str, Any] = {}
        chosen = draw(st.lists(st.sampled_from([a["id"] for a in areas]), unique=True, max_size=2))
        if chosen or kind == "restricted_area":
            applies["areas"] = chosen or [areas[0]["id"]]
        groups = draw(st.lists(st.sampled_from(CLASS_GROUPS), unique=True, max_size=3))
        if groups:
            applies["vehicle_classes"] = [c for g in groups for c in g]
        if draw(st.booleans()):
            start, end = draw(st.integers(0, 23)), draw(st.integers(1, 24))
            days = draw(
                st.lists(
                    st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                    unique=True,
                    min_size=1,
                )
            )
            if start != end % 24:
                applies["schedule"] = [{"days": days, "start": f"{start:02d}:00", "end": f"{end:02d}:00"}]
        rule: dict[str, Any] = {"id": f"r{i}", "kind": kind, "applies": applies}
        if kind == "speed_limit":
            rule.update(limit_kmh=draw(st.integers(5, 150)), grace_s=0)
        elif kind == "dwell":
            rule["max_dwell_s"] = draw(st.sampled_from([30, 60, 90, 300, 3600, 5400, 86400]))
        if kind != "restricted_area" and draw(st.booleans()):
            rule["priority"] = draw(st.integers(0, 3))
        rules.append(rule)
    return {
        "zone_id": "generated",
        "name": "generated zone",
        "timezone": "Asia/Seoul",
        "boundary": _box(127.0, 37.0, 0.1, 0.1),
        "operators": [{"id": "op", "vehicle_classes": ["CAR"]}],
        "areas": areas,
        "rules": rules,
    }


def _probe_points(zone: Zone) -> list[tuple[float, float]]:
    shapes = [a.geometry for a in zone.areas.values()]
    points = [shapely.Point(127.099, 37.099)]
    points += [s.representative_point() for s in shapes]
    for i, first in enumerate(shapes):
        for second in shapes[i + 1 :]:
            for piece in (first.intersection(second), first.difference(second), second.difference(first)):
                if not piece.is_empty and piece.area > 0:
                    points.append(piece.representative_point())
    return [(p.x, p.y) for p in points]


def _in_force(zone: Zone, lon: float, lat: float, when: dt.datetime, vehicle_class: str) -> tuple[Any, ...]:
    applied = rules_at(zone, lon, lat, when, vehicle_class)
    speed = [a.rule.limit_kmh for a in applied if a.kind == "speed_limit"]  # type: ignore[attr-defined]
    dwell = [a.rule.max_dwell_s for a in applied if a.kind == "dwell"]  # type: ignore[attr-defined]
    restricted = any(a.kind == "restricted_area" for a in applied)
    return speed, dwell, restricted


TIMES = [
    dt.datetime(2026, 11, 23, 1, 30, tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in range(0, 7 * 24, 21)
]
"""Eight instants, each on another weekday and hour."""
PROBED_CLASSES = [group[-1] for group in CLASS_GROUPS]
"""One class per group, the one an MDS type covers second (ROBOTAXI for ``car`` ...)."""


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=configs())
def test_export_then_import_gives_equivalent_rules(config: dict[str, Any], tmp_path_factory: Any) -> None:
    folder = tmp_path_factory.mktemp("round")
    (folder / "generated.yaml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    original = load_zone(folder / "generated.yaml")
    policy, geographies, export_report = export_zone(original, PUBLISHED_MS)
    assert export_schema_errors(policy, geographies) == []
    assert {r.status for r in export_report.rules} == {"exported"}
    report, zones = import_documents(
        policy, [("geographies", geographies)], ImportOptions("Asia/Seoul", zone_id="generated")
    )
    assert report.forgiven == []
    assert {r.status for p in report.policies for r in p.rules} == {"imported"}
    [(zone_id, imported_config, geojson)] = zones
    _, imported = write_zone(folder / "back", zone_id, imported_config, geojson)
    for lon, lat in _probe_points(original):
        for when in TIMES:
            for vehicle_class in PROBED_CLASSES:
                assert _in_force(imported, lon, lat, when, vehicle_class) == _in_force(
                    original, lon, lat, when, vehicle_class
                ), (lon, lat, when, vehicle_class)
