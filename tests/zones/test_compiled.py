"""Compiled zones: built once per zone, read-only lookups, never keeping a zone alive."""

from __future__ import annotations

import gc
import math
import pickle
import weakref
from pathlib import Path

import pytest

from pilotzone.zones import CompiledZone, Zone, area_index, compile_zone, load_zone, rules_at
from pilotzone.zones.compiled import per_zone
from tests.zones import geometries as g
from tests.zones.test_rules import CAR, TUESDAY_0815


@pytest.fixture
def zone(tmp_path: Path) -> Zone:
    return load_zone(g.write_yaml(tmp_path / "zone.yaml", g.base_config()))


def test_compile_zone_builds_once_per_zone(zone: Zone) -> None:
    compiled = compile_zone(zone)
    assert compile_zone(zone) is compiled
    assert area_index(zone) is compiled.index
    assert compiled.zone_id == "testzone"
    # Zones are keyed by identity: an equal zone loaded again has its own compiled form (an
    # unpickled copy is the live zone itself, see ``test_zone_pickling``).
    copy = load_zone(zone.source)
    assert compile_zone(copy) is not compiled
    assert compile_zone(copy).index.area_ids == compiled.index.area_ids


def test_compiling_keeps_no_zone_alive(tmp_path: Path) -> None:
    zone = load_zone(
        g.write_yaml(tmp_path / "zone.yaml", g.base_config())
    )  # not a fixture: pytest keeps those
    rules_at(zone, *g.IN_SCHOOL, TUESDAY_0815, CAR)  # compiles it and fills candidate tables
    compiled = weakref.ref(compile_zone(zone))
    gone = weakref.ref(zone)
    del zone
    gc.collect()
    assert gone() is None
    assert compiled() is None


def test_zone_pickles_the_same_before_and_after_use(zone: Zone) -> None:
    before = pickle.dumps(zone)
    rules_at(zone, *g.IN_SCHOOL, TUESDAY_0815, CAR)
    assert pickle.dumps(zone) == before  # nothing derived is stored on the zone


def test_candidates_are_in_precedence_order_and_built_once(zone: Zone) -> None:
    compiled = CompiledZone(zone)
    present = frozenset({"district", "school", "corridor"})
    candidates = compiled.candidates("speed_limit", None, present)
    assert [(p.rule.id, p.area) for p in candidates] == [
        ("school-speed", "school"),
        ("corridor-speed", "corridor"),
        ("district-speed", "district"),
        ("zone-speed", None),
    ]
    assert candidates[-1].area_m2 == math.inf
    assert compiled.candidates("speed_limit", None, present) is candidates
    assert compiled.candidates("speed_limit", None, frozenset()) == (candidates[-1],)


def test_innermost_scope_is_the_smallest_of_the_rules_areas_present(zone: Zone) -> None:
    compiled = CompiledZone(zone)
    (district_speed,) = (r for r in compiled.rules_of_kind("speed_limit") if r.id == "district-speed")
    assert compiled.innermost_scope(district_speed, {"district", "school"}) == (True, "district")
    assert compiled.innermost_scope(district_speed, {"school"}) == (False, None)


def test_rules_of_kind_are_in_config_order_and_unknown_kinds_fail(zone: Zone) -> None:
    compiled = compile_zone(zone)
    assert [r.id for r in compiled.rules_of_kind("speed_limit")] == [r["id"] for r in g.SPEED_RULES]
    assert compiled.rules_of_kind("dwell") == ()
    with pytest.raises(ValueError, match="unknown rule kind 'speed'"):
        compiled.rules_of_kind("speed")


def test_per_zone_builds_once_per_zone(zone: Zone, tmp_path: Path) -> None:
    built: list[str] = []

    @per_zone
    def version_of(zone: Zone) -> str:
        built.append(zone.zone_id)
        return zone.version

    other = load_zone(g.write_yaml(tmp_path / "other.yaml", g.base_config()))
    assert [version_of(zone), version_of(zone), version_of(other)] == [zone.version] * 3
    assert built == ["testzone", "testzone"]
