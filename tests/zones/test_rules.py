"""Rule precedence: which rule of a kind is in force where, when and for whom, and why."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pilotzone.zones import Zone, area_index, load_zone
from pilotzone.zones.model import EventKind, Initiator, VehicleClass
from pilotzone.zones.rules import independent_rules, rules_at, winning_rule
from tests.zones import geometries as g

SEOUL = ZoneInfo("Asia/Seoul")
TUESDAY_0815 = dt.datetime(2025, 3, 4, 8, 15, tzinfo=SEOUL)
CAR = VehicleClass.CAR

ZoneFactory = Callable[[Callable[[dict[str, Any]], None] | None], Zone]


@pytest.fixture
def make_zone(tmp_path: Path) -> ZoneFactory:
    """Build the shared test zone, optionally after editing its config dict."""

    def build(edit: Callable[[dict[str, Any]], None] | None = None) -> Zone:
        config = g.base_config()
        if edit is not None:
            edit(config)
        return load_zone(g.write_yaml(tmp_path / "zone.yaml", config))

    return build


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Zone:
    return load_zone(g.write_yaml(tmp_path_factory.mktemp("zone") / "zone.yaml", g.base_config()))


def areas_at(zone: Zone, point: tuple[float, float]) -> frozenset[str]:
    return area_index(zone).area_sets([point[0]], [point[1]])[0]


def speed_at(zone: Zone, point: tuple[float, float], **kwargs: Any) -> tuple[str, tuple[str, ...]] | None:
    applied = winning_rule(
        zone,
        "speed_limit",
        areas_at(zone, point),
        kwargs.pop("when", TUESDAY_0815),
        kwargs.pop("cls", CAR),
        **kwargs,
    )
    return None if applied is None else (applied.rule.id, applied.overridden)


def test_the_area_sets_used_below(zone: Zone) -> None:
    assert areas_at(zone, g.IN_SCHOOL) == {"district", "school"}
    assert areas_at(zone, g.IN_SCHOOL_ON_CORRIDOR) == {"district", "school", "corridor"}
    assert areas_at(zone, g.ON_CORRIDOR_IN_DISTRICT) == {"district", "corridor"}
    assert areas_at(zone, g.IN_ZONE_ONLY) == frozenset()


def test_inner_area_tightens(zone: Zone) -> None:
    assert speed_at(zone, g.IN_DISTRICT) == ("district-speed", ("zone-speed",))
    assert speed_at(zone, g.IN_SCHOOL) == ("school-speed", ("district-speed", "zone-speed"))


def test_inner_area_relaxes(zone: Zone) -> None:
    # The corridor (9 km x 60 m) is smaller than the district (5 x 5 km): its 80 km/h wins.
    assert speed_at(zone, g.ON_CORRIDOR_IN_DISTRICT) == ("corridor-speed", ("district-speed", "zone-speed"))
    assert speed_at(zone, g.ON_CORRIDOR_EAST) == ("corridor-speed", ("zone-speed",))
    # ... and the school zone (300 x 300 m) is smaller still.
    assert speed_at(zone, g.IN_SCHOOL_ON_CORRIDOR) == (
        "school-speed",
        ("corridor-speed", "district-speed", "zone-speed"),
    )
    assert speed_at(zone, g.IN_ZONE_ONLY) == ("zone-speed", ())


def test_explicit_priority_beats_area_size(make_zone: ZoneFactory) -> None:
    def prioritise(config: dict[str, Any]) -> None:
        config["rules"][1]["priority"] = 5  # district-speed
        config["rules"][0]["priority"] = -1  # zone-speed yields even to unprioritised rules

    zone = make_zone(prioritise)
    assert speed_at(zone, g.IN_SCHOOL_ON_CORRIDOR) == (
        "district-speed",
        ("school-speed", "corridor-speed", "zone-speed"),
    )
    applied = winning_rule(zone, "speed_limit", areas_at(zone, g.IN_SCHOOL), TUESDAY_0815, CAR)
    assert applied is not None
    assert applied.explanation == (
        "speed_limit district-speed (40 km/h in district district 'West district') applies: higher priority "
        "(5 over 0), takes precedence over school-speed (30 km/h in school zone school) and zone-speed "
        "(50 km/h zone-wide)"
    )


def test_equal_precedence_is_decided_by_rule_id(make_zone: ZoneFactory) -> None:
    def add_twin(config: dict[str, Any]) -> None:
        config["rules"].append({"id": "a-zone-speed", "kind": "speed_limit", "limit_kmh": 45})

    zone = make_zone(add_twin)
    applied = winning_rule(zone, "speed_limit", frozenset(), TUESDAY_0815, CAR)
    assert applied is not None
    assert (applied.rule.id, applied.overridden) == ("a-zone-speed", ("zone-speed",))
    assert applied.explanation == (
        "speed_limit a-zone-speed (45 km/h zone-wide) applies: equal precedence, first by rule id, takes precedence "
        "over zone-speed (50 km/h zone-wide)"
    )


def test_vehicle_class_and_schedule_filter_candidates(make_zone: ZoneFactory) -> None:
    def restrict(config: dict[str, Any]) -> None:
        config["rules"][2]["applies"]["schedule"] = [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "21:00"}
        ]
        config["rules"][3]["applies"]["vehicle_classes"] = ["BUS"]

    zone = make_zone(restrict)
    tuesday_night = dt.datetime(2025, 3, 4, 22, 0, tzinfo=SEOUL)
    assert speed_at(zone, g.IN_SCHOOL) == ("school-speed", ("district-speed", "zone-speed"))
    assert speed_at(zone, g.IN_SCHOOL, when=tuesday_night) == ("district-speed", ("zone-speed",))
    # 23:15 UTC on Monday is 08:15 on Tuesday in Seoul: the schedule is read in zone time.
    monday_2315_utc = dt.datetime(2025, 3, 3, 23, 15, tzinfo=dt.UTC)
    assert speed_at(zone, g.IN_SCHOOL, when=monday_2315_utc) == (
        "school-speed",
        ("district-speed", "zone-speed"),
    )
    # A naive time is taken as zone-local.
    tuesday_night_naive = dt.datetime(2025, 3, 4, 22, 0)
    assert speed_at(zone, g.IN_SCHOOL, when=tuesday_night_naive) == ("district-speed", ("zone-speed",))
    assert speed_at(zone, g.ON_CORRIDOR_EAST) == ("zone-speed", ())
    assert speed_at(zone, g.ON_CORRIDOR_EAST, cls=VehicleClass.BUS) == ("corridor-speed", ("zone-speed",))


def test_rule_scoped_to_several_areas_is_placed_in_the_innermost(make_zone: ZoneFactory) -> None:
    def widen(config: dict[str, Any]) -> None:
        config["rules"][2]["applies"]["areas"] = ["district", "school"]  # school-speed
        config["rules"] = [r for r in config["rules"] if r["id"] != "district-speed"]

    zone = make_zone(widen)
    applied = winning_rule(zone, "speed_limit", areas_at(zone, g.IN_SCHOOL), TUESDAY_0815, CAR)
    assert applied is not None
    assert (applied.rule.id, applied.area) == ("school-speed", "school")
    applied = winning_rule(zone, "speed_limit", areas_at(zone, g.IN_DISTRICT), TUESDAY_0815, CAR)
    assert applied is not None
    assert (applied.rule.id, applied.area) == ("school-speed", "district")


def test_vehicle_events_override_per_event_and_initiator(make_zone: ZoneFactory) -> None:
    def events(config: dict[str, Any]) -> None:
        config["rules"] += [
            {
                "id": "collision",
                "kind": "vehicle_event",
                "event": "COLLISION",
                "severity": "CRITICAL",
                "report_within_h": 24,
            },
            {"id": "disengagement", "kind": "vehicle_event", "event": "DISENGAGEMENT"},
            {
                "id": "school-disengagement",
                "kind": "vehicle_event",
                "event": "DISENGAGEMENT",
                "severity": "MAJOR",
                "initiated_by": ["SYSTEM"],
                "applies": {"areas": ["school"]},
            },
        ]

    zone = make_zone(events)
    school = areas_at(zone, g.IN_SCHOOL)

    def winner(event: EventKind, initiator: Initiator | None = None) -> tuple[str, tuple[str, ...]] | None:
        applied = winning_rule(zone, "vehicle_event", school, TUESDAY_0815, CAR, event, initiator=initiator)
        return None if applied is None else (applied.rule.id, applied.overridden)

    assert winner(EventKind.COLLISION) == ("collision", ())
    assert winner(EventKind.DISENGAGEMENT) == ("school-disengagement", ("disengagement",))
    assert winner(EventKind.DISENGAGEMENT, Initiator.SYSTEM) == ("school-disengagement", ("disengagement",))
    assert winner(EventKind.DISENGAGEMENT, Initiator.SAFETY_DRIVER) == ("disengagement", ())
    assert winner(EventKind.REMOTE_TAKEOVER) is None
    with pytest.raises(ValueError, match="needs the event kind"):
        winning_rule(zone, "vehicle_event", school, TUESDAY_0815, CAR)


def test_independent_kinds_are_not_overridden(zone: Zone) -> None:
    with pytest.raises(ValueError, match="'restricted_area' rules do not override each other"):
        winning_rule(zone, "restricted_area", frozenset(), TUESDAY_0815, CAR)
    with pytest.raises(ValueError, match="'speed_limit' rules override each other"):
        independent_rules(zone, "speed_limit", frozenset(), TUESDAY_0815, CAR)


def test_two_restricted_areas_both_apply(make_zone: ZoneFactory) -> None:
    def second_restriction(config: dict[str, Any]) -> None:
        config["rules"].append(
            {"id": "no-district", "kind": "restricted_area", "applies": {"areas": ["district"]}}
        )
        config["rules"].append(
            {"id": "no-school", "kind": "restricted_area", "applies": {"areas": ["school"]}}
        )

    zone = make_zone(second_restriction)
    applied = independent_rules(zone, "restricted_area", areas_at(zone, g.IN_SCHOOL), TUESDAY_0815, CAR)
    assert [(a.rule.id, a.area, a.overridden) for a in applied] == [
        ("no-district", "district", ()),
        ("no-school", "school", ()),
    ]


def test_rules_at_lists_winners_and_independent_rules_with_reasons(zone: Zone) -> None:
    applied = rules_at(zone, *g.IN_SCHOOL_ON_CORRIDOR, TUESDAY_0815, VehicleClass.ROBOTAXI)
    assert [(a.kind, a.rule.id, a.area, a.overridden, a.explanation) for a in applied] == [
        (
            "speed_limit",
            "school-speed",
            "school",
            ("corridor-speed", "district-speed", "zone-speed"),
            "speed_limit school-speed (30 km/h in school zone school 'Test school zone') applies: innermost area, "
            "takes precedence over corridor-speed (80 km/h in corridor corridor), district-speed (40 km/h in district "
            "district) and zone-speed (50 km/h zone-wide)",
        ),
        (
            "telemetry_gap",
            "gap",
            None,
            (),
            "telemetry_gap gap (max gap 10 s zone-wide) applies: the only telemetry_gap rule in force here",
        ),
        (
            "permit",
            "permit",
            None,
            (),
            "permit permit (operator permits zone-wide) applies: ROBOTAXI vehicles may be run here only by op-a "
            "(max 10)",
        ),
    ]


def test_rules_at_outside_and_in_restricted_area(zone: Zone) -> None:
    outside = rules_at(zone, *g.OUTSIDE, TUESDAY_0815, VehicleClass.BUS)
    assert [(a.rule.id, a.explanation) for a in outside] == [
        (
            "zone-speed",
            "speed_limit zone-speed (50 km/h zone-wide) applies: the only speed_limit rule in force here",
        ),
        (
            "stay-in",
            "leave_boundary stay-in (stay inside the boundary, grace 10 s zone-wide) applies: the point is outside "
            "the zone boundary",
        ),
        (
            "gap",
            "telemetry_gap gap (max gap 10 s zone-wide) applies: the only telemetry_gap rule in force here",
        ),
        (
            "permit",
            "permit permit (operator permits zone-wide) applies: no operator holds a permit for BUS vehicles in this zone",
        ),
    ]
    restricted = rules_at(zone, *g.IN_RESTRICTED, TUESDAY_0815, CAR)
    assert [(a.rule.id, a.area) for a in restricted if a.kind == "restricted_area"] == [
        ("no-base", "restricted")
    ]
    (no_base,) = (a for a in restricted if a.kind == "restricted_area")
    assert no_base.explanation == (
        "restricted_area no-base (no entry in restricted area restricted 'Air base') applies: the point is inside "
        "restricted area restricted 'Air base'"
    )


def test_rules_at_needs_an_aware_time(zone: Zone) -> None:
    with pytest.raises(ValueError, match="when must be timezone-aware"):
        rules_at(zone, *g.IN_SCHOOL, dt.datetime(2025, 3, 4, 8, 15), CAR)


def test_winning_rule_does_not_depend_on_area_order(zone: Zone) -> None:
    first = winning_rule(zone, "speed_limit", {"school", "district"}, TUESDAY_0815, CAR)
    second = winning_rule(zone, "speed_limit", ["district", "school"], TUESDAY_0815, CAR)
    assert first == second


def test_a_pickled_zone_answers_like_the_original(zone: Zone) -> None:
    rules_at(zone, *g.IN_SCHOOL, TUESDAY_0815, CAR)  # compiles the original
    copy = pickle.loads(pickle.dumps(zone))
    assert [a.explanation for a in rules_at(copy, *g.IN_SCHOOL, TUESDAY_0815, CAR)] == [
        a.explanation for a in rules_at(zone, *g.IN_SCHOOL, TUESDAY_0815, CAR)
    ]
    assert copy.version == zone.version
