"""MDS import over the real material: every example policy imports or is refused with reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely

from pilotzone.zones.mds.documents import MdsDocumentError
from pilotzone.zones.mds.files import import_documents, write_zone
from pilotzone.zones.mds.importer import ImportOptions
from pilotzone.zones.mds.shapes import area_of
from pilotzone.zones.mds.units import kmh_from, whole_speed_in
from pilotzone.zones.model import VehicleClass
from tests.zones.mds.material import (
    MDS_CORE,
    MICROMOBILITY_AS_OTHER,
    SPEC_EXAMPLES,
    fixture_policies,
    la_geographies,
)

OPTIONS = ImportOptions("America/Los_Angeles", vehicle_classes=MICROMOBILITY_AS_OTHER)

# Per document: per policy, (policy status, each rule's status). i = imported,
# a = approximated, n = not imported. Refusals carry their reasons in the report.
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "idle-time.json": [("refused", "nn")],  # both geographies are not in the material
    "metered-parking-fees.json": [("refused", "n")],  # a fee
    "per-trip-fees.json": [("refused", "n")],  # a fee
    "prohibited-zone.json": [("imported", "i")],  # count max 0 -> restricted_area
    "provider-cap.json": [("refused", "na")],  # a cap alone is no rule to monitor
    "required-parking.json": [("refused", "nn")],
    "speed-limits.json": [("refused", "nn")],
    "tiered-parking-fees-per-hour-in-bounds.json": [("refused", "nnn")],
    "tiered-parking-fees-per-hour.json": [("refused", "nnn")],
    "tiered-parking-fees-total.json": [("refused", "nnn")],
    "vehicle-row-fees.json": [("refused", "nn")],
    "core/low_limit_policy.json": [("refused", "a")],
    "core/multiple_rules_count_policy.json": [("refused", "aa")],
    "core/policies.json": [("refused", "a"), ("imported", "a"), ("imported", "a")],
    "core/speed_policy.json": [("imported", "a")],
    "fixture/COUNT_POLICY_JSON": [("refused", "a")],
    "fixture/COUNT_POLICY_JSON_2": [("imported", "i")],
    "fixture/COUNT_POLICY_JSON_3": [("refused", "a")],
    "fixture/COUNT_POLICY_JSON_5": [("imported", "a")],
    "fixture/HIGH_COUNT_POLICY": [("refused", "a")],
    "fixture/ARBITRARY_EVENT_TYPES_POLICY": [("refused", "a")],
    "fixture/LOW_COUNT_POLICY": [("refused", "a")],
    "fixture/EXPIRED_POLICY": [("refused", "a")],
    "fixture/VENICE_OVERFLOW_POLICY": [("refused", "na")],
    "fixture/VENICE_MIXED_VIOLATIONS_POLICY": [("refused", "na")],
    "fixture/MANY_OVERFLOWS_POLICY": [("refused", "nn")],
    "fixture/OVERLAPPING_GEOS_SPEED_POLICY": [("imported", "aa")],
    "fixture/OVERLAPPING_GEOS_TIME_POLICY": [("imported", "na")],
}


def document(name: str) -> Any:
    if name.startswith("fixture/"):
        return fixture_policies()[name.removeprefix("fixture/")]
    if name.startswith("core/"):
        return json.loads((MDS_CORE / "test_data" / name.removeprefix("core/")).read_text("utf-8"))
    return json.loads((SPEC_EXAMPLES / name).read_text("utf-8"))


def test_the_table_covers_every_policy_in_the_material() -> None:
    names = {p.name for p in SPEC_EXAMPLES.glob("*.json")}
    names |= {f"core/{p.name}" for p in (MDS_CORE / "test_data").glob("*policy*.json")}
    names |= {"core/policies.json"} | {f"fixture/{k}" for k in fixture_policies()}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_example_policy_imports_or_is_refused_with_reasons(name: str, tmp_path: Path) -> None:
    report, zones = import_documents(document(name), [("la", la_geographies())], OPTIONS, lenient=True)
    got = [(p.status, "".join(r.status[0] for r in p.rules)) for p in report.policies]
    assert got == EXPECTED[name]
    for policy in report.policies:
        for rule in policy.rules:
            if rule.status == "not_imported":
                assert rule.notes, f"rule {rule.rule_id} refused without a reason"
        if policy.status == "refused":
            assert policy.notes[-1].startswith("no rule of this policy can be monitored")
    for zone_id, config, geojson in zones:  # what is imported, the loader accepts
        _, zone = write_zone(tmp_path, zone_id, config, geojson)
        assert [r.id for r in zone.rules] == [r["id"] for r in config["rules"]]


@pytest.mark.parametrize("path", sorted(SPEC_EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_strict_mode_refuses_spec_examples_that_break_their_own_schema(path: Path) -> None:
    with pytest.raises(MdsDocumentError) as caught:
        import_documents(json.loads(path.read_text("utf-8")), [], OPTIONS, policy_source=path.name)
    assert "schema 1.2.0: updated: 0 is less than the minimum of 1514764800000" in caught.value.problems
    assert caught.value.problems[-1].endswith("pass --lenient to read it anyway and list what was forgiven")


def test_strict_mode_names_each_schema_error_and_lenient_lists_what_it_forgave() -> None:
    data = json.loads((SPEC_EXAMPLES / "per-trip-fees.json").read_text("utf-8"))
    with pytest.raises(MdsDocumentError) as caught:
        import_documents(data, [], OPTIONS, policy_source="per-trip-fees.json")
    assert caught.value.problems[:2] == [
        "schema 1.2.0: data.policies[0].rules[0].rate_recurrence: 'once' is not one of "
        "['once_on_match', 'once_on_unmatch', 'each_time_unit', 'per_complete_time_unit']",
        "schema 1.2.0: updated: 0 is less than the minimum of 1514764800000",
    ]
    report, _ = import_documents(data, [], OPTIONS, policy_source="per-trip-fees.json", lenient=True)
    assert report.forgiven == [f"per-trip-fees.json: {p}" for p in caught.value.problems[:2]]


def test_bare_mds_core_lists_need_lenient() -> None:
    with pytest.raises(MdsDocumentError) as caught:
        import_documents(document("core/speed_policy.json"), [("la", la_geographies())], OPTIONS)
    assert caught.value.problems[0] == 'no MDS envelope with a "version": read as MDS 1.2'


def test_speeds_convert_exactly_and_rule_ids_cite_the_mds_rule() -> None:
    _, zones = import_documents(
        document("core/speed_policy.json"), [("la", la_geographies())], OPTIONS, lenient=True
    )
    [(_, config, _)] = zones
    [rule] = config["rules"]
    assert rule["id"] == "2aa6953d-fa8f-4018-9b54-84c8b4b83c6d"
    assert rule["limit_kmh"] == 24.14016 and repr(rule["limit_kmh"]) == "24.14016"  # 15 mph, exactly
    assert rule["grace_s"] == 0
    assert rule["applies"] == {
        "areas": ["1f943d59-ccc9-4d91-b6e2-0c5e771cbc49"],
        "vehicle_classes": ["OTHER"],
    }
    assert config["source"]["policy_id"] == "95645117-fd85-463e-a2c9-fc95ea47463e"
    assert config["source"]["rules"][0]["maximum"] == 15
    source = config["source"]
    assert (source["start_date"], source["end_date"], source["prev_policies"]) == (1552678594428, None, None)
    assert source["geographies"] == {"1f943d59-ccc9-4d91-b6e2-0c5e771cbc49": {"name": "la"}}


@pytest.mark.parametrize("mph", [1, 10, 15, 25, 37, 55, 65, 99, 124])
def test_whole_mph_survive_the_round_trip_through_kmh(mph: int) -> None:
    assert whole_speed_in(kmh_from(mph, "mph"), "mph") == mph


def test_first_match_order_cuts_a_later_rule_out_of_an_earlier_rules_geography(tmp_path: Path) -> None:
    report, zones = import_documents(
        document("fixture/OVERLAPPING_GEOS_TIME_POLICY"), [("la", la_geographies())], OPTIONS, lenient=True
    )
    [(zone_id, config, geojson)] = zones
    [dwell] = config["rules"]
    assert dwell["kind"] == "dwell" and dwell["max_dwell_s"] == 25 * 60
    assert dwell["applies"]["areas"] == ["178b570d-e0ba-41d5-a9a9-e8a91440c0e8.in-force"]
    _, zone = write_zone(tmp_path, zone_id, config, geojson)
    inner, _ = area_of(la_geographies()[2]["geography_json"]["features"])
    outer, _ = area_of(la_geographies()[3]["geography_json"]["features"])
    in_force = zone.areas["178b570d-e0ba-41d5-a9a9-e8a91440c0e8.in-force"].geometry
    assert shapely.equals_exact(
        shapely.normalize(in_force), shapely.normalize(outer.difference(inner)), 1e-12
    )
    assert report.policies[0].rules[1].notes[-2].startswith("first-match order: rule 1 come(s) first")


def test_speed_rules_keep_their_mds_order_as_priorities(tmp_path: Path) -> None:
    _, zones = import_documents(
        document("fixture/OVERLAPPING_GEOS_SPEED_POLICY"), [("la", la_geographies())], OPTIONS, lenient=True
    )
    [(zone_id, config, geojson)] = zones
    assert [(r["id"], r["priority"], r["limit_kmh"]) for r in config["rules"]] == [
        ("2aa6953d-fa8f-4018-9b54-84c8b4b83c6d", 2, 16.09344),
        ("178b570d-e0ba-41d5-a9a9-e8a91440c0e8", 1, 40.2336),
    ]
    assert config["rules"][0]["description"] == (
        "Slow Zone in Venice Beach (MDS rule 1 of 2); priority 2 keeps MDS's first-match order"
    )
    _, zone = write_zone(tmp_path, zone_id, config, geojson)
    assert zone.warnings == ()


def test_micromobility_types_are_refused_unless_mapped() -> None:
    report, zones = import_documents(
        document("core/speed_policy.json"),
        [("la", la_geographies())],
        ImportOptions("America/Los_Angeles"),
        lenient=True,
    )
    assert zones == []
    assert report.policies[0].rules[0].notes == [
        "vehicle types bicycle, scooter have no vehicle class here: map them, e.g. "
        "--map-vehicle-type bicycle=DELIVERY_ROBOT"
    ]


def test_point_geographies_become_mds_core_circles() -> None:
    stops = json.loads((SPEC_EXAMPLES.parent / "geography-examples" / "stop.json").read_text("utf-8"))
    shape, notes = area_of(stops["geography"]["geography_json"]["features"])
    assert notes == ["9 point feature(s) became 30.48 m circles of 32 edges, as mds-core reads them"]
    # Stops 1-2, 5-6 and 7-8 are less than 61 m apart: their circles merge.
    assert len(shape.geoms) == 6


def mds_2_0(policy_file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A spec example as a city would publish it under MDS 2.0 (valid envelope and dates,
    2.0 vehicle types), with mds-core's restricted areas as its 2.0 Geographies document."""
    data = json.loads((SPEC_EXAMPLES / policy_file).read_text("utf-8"))
    policy = data["data"]["policies"][0]
    rules = [{**rule, "vehicle_types": ["bicycle", "scooter_standing"]} for rule in policy["rules"]]
    document = {
        "version": "2.0.0",
        "updated": 1764547200000,
        "data": {"policies": [{**policy, "rules": rules}]},
    }
    restricted = next(g for g in la_geographies() if g["geography_id"].startswith("c0591267"))
    geographies = {
        "version": "2.0.0",
        "updated": 1764547200000,
        "data": {"geographies": [{**restricted, "published_date": 1552678594428}]},
    }
    return document, geographies


def test_an_mds_2_0_policy_imports_strictly(tmp_path: Path) -> None:
    document, geographies = mds_2_0("prohibited-zone.json")
    options = ImportOptions(
        "America/Los_Angeles",
        vehicle_classes={**MICROMOBILITY_AS_OTHER, "scooter_standing": (VehicleClass.DELIVERY_ROBOT,)},
    )
    report, zones = import_documents(document, [("geographies", geographies)], options)
    assert (report.mds_version, report.forgiven) == ("2.0.0", [])
    [(zone_id, config, geojson)] = zones
    assert config["rules"][0]["applies"]["vehicle_classes"] == ["DELIVERY_ROBOT", "OTHER"]
    _, zone = write_zone(tmp_path, zone_id, config, geojson)
    assert zone.config.source is not None and zone.config.source["mds_version"] == "2.0.0"


def test_mds_2_0_has_no_rate_rules() -> None:
    document, geographies = mds_2_0("per-trip-fees.json")
    with pytest.raises(MdsDocumentError) as caught:
        import_documents(document, [("geographies", geographies)], OPTIONS)
    assert (
        "schema 2.0.0: data.policies[0].rules[0].rule_type: 'rate' is not one of ['count', 'time', 'speed', 'user']"
        in (caught.value.problems)
    )
