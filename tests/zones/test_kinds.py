"""The rule kind registry: one module per kind, and everything else derived from it."""

from __future__ import annotations

import typing

import pytest

from pilotzone.zones import model
from pilotzone.zones.kinds import INDEPENDENT_KINDS, KINDS, OVERRIDING_KINDS, RULE_KINDS, RULE_MODELS, kind_of
from pilotzone.zones.rules import rule_parameters

EXPECTED_KINDS = (
    "speed_limit",
    "leave_boundary",
    "restricted_area",
    "operating_hours",
    "telemetry_gap",
    "driving_mode",
    "dwell",
    "permit",
    "vehicle_event",
)


def test_registry_lists_every_kind_in_reading_order() -> None:
    assert RULE_KINDS == EXPECTED_KINDS
    assert model.RULE_KINDS == EXPECTED_KINDS


@pytest.mark.parametrize("name", EXPECTED_KINDS)
def test_each_kind_model_carries_its_name_as_discriminator(name: str) -> None:
    kind = KINDS[name]
    assert kind.name == name
    assert kind.model.model_fields["kind"].default == name
    assert RULE_MODELS[name] is kind.model


def test_rule_union_is_built_from_the_registry() -> None:
    annotation = model.ZoneConfig.model_fields["rules"].annotation
    (rule,) = typing.get_args(annotation)
    members = typing.get_args(typing.get_args(rule)[0])
    assert members == tuple(RULE_MODELS.values())


def test_precedence_families_split_the_kinds() -> None:
    assert set(OVERRIDING_KINDS) == {
        "speed_limit",
        "driving_mode",
        "dwell",
        "operating_hours",
        "telemetry_gap",
        "vehicle_event",
    }
    assert set(INDEPENDENT_KINDS) == {"restricted_area", "leave_boundary", "permit"}


def test_peak_units_and_evaluations() -> None:
    assert {name: kind.peak_unit for name, kind in KINDS.items()} == {
        "speed_limit": "km/h over the limit",
        "leave_boundary": "m outside",
        "restricted_area": "s",
        "operating_hours": "s",
        "telemetry_gap": "s",
        "driving_mode": "s",
        "dwell": "s",
        "permit": "s",
        "vehicle_event": "",
    }
    assert {name for name, kind in KINDS.items() if kind.evaluation != "run"} == {
        "telemetry_gap",
        "vehicle_event",
    }


def test_parameters_phrase_comes_from_the_kind() -> None:
    rules = [
        model.SpeedLimitRule(id="s", limit_kmh=30, tolerance_kmh=3),
        model.DwellRule(id="d", max_dwell_s=120),
        model.VehicleEventRule(id="v", event="COLLISION", initiated_by=["SYSTEM"], report_within_h=24),
        model.PermitRule(id="p"),
    ]
    assert [rule_parameters(r) for r in rules] == [
        "30 km/h (+3 tolerance)",
        "max 120 s stopped",
        "COLLISION by SYSTEM, report within 24 h",
        "operator permits",
    ]
    assert [kind_of(r).grace_ms(r) for r in rules] == [5000, 120_000, 0, 0]
