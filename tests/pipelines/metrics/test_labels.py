"""The ``operator`` label: permit holders from the zone configs, every other id as ``unpermitted``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.exposition import generate_latest

from pilotzone.pipelines.metrics.export import (
    PipelineFigures,
    SnapshotCollector,
    pipeline_families,
    registry_of,
)
from pilotzone.pipelines.metrics.labels import UNPERMITTED, OperatorLabels
from pilotzone.zones import load_zones
from tests.pipelines.metrics.exposition import samples_of

GWANGJU = Path(__file__).resolve().parents[3] / "zones" / "configs" / "gwangju.yaml"
PERMITTED = "gwangju-robotaxi-a"


def _summary(operator: str, samples: int) -> dict[str, Any]:
    return {
        "window_end": "2026-11-23T01:01:00.000Z",
        "pilot_zone": "gwangju",
        "operator": operator,
        "vehicle_class": "ROBOTAXI",
        "samples": samples,
        "active_vehicles": 1,
        "vehicle_seconds": 1.0,
        "distance_m_by_mode": {"AUTONOMOUS": 1.0},
        "violation_s_by_rule": {"permit": 1.0},
        "disengagements": 0,
        "remote_takeovers": 0,
    }


def _incident(operator: str) -> dict[str, Any]:
    return {
        "pilot_zone": "gwangju",
        "operator_id": operator,
        "rule_id": "permit",
        "kind": "permit",
        "severity": "MAJOR",
        "end_time": "2026-11-23T01:01:00.000Z",
        "report_deadline": None,
    }


def test_labels_are_permit_holders_of_the_zone_and_nothing_else() -> None:
    labels = OperatorLabels.of(load_zones([GWANGJU]))
    assert labels("gwangju", PERMITTED) == PERMITTED
    assert labels("gwangju", "op-a") == UNPERMITTED
    assert labels("gwangju", PERMITTED + "\x00") == UNPERMITTED
    assert labels("another-zone", PERMITTED) == UNPERMITTED


def test_two_thousand_operators_and_a_megabyte_id_add_one_series_per_family() -> None:
    forged = [f"op-{i:04d}" for i in range(2_000)] + ["x" * 1_000_000]
    summaries = [_summary(PERMITTED, 10)] + [_summary(operator, 1) for operator in forged]
    incidents = [_incident(PERMITTED)] + [_incident(operator) for operator in forged]
    families = pipeline_families(load_zones([GWANGJU]), PipelineFigures(summaries, incidents, {}), 0.0)
    text = generate_latest(registry_of(SnapshotCollector(families))).decode()
    got = samples_of(text)
    samples = {
        dict(labels)["operator"]: value
        for (name, labels), value in got.items()
        if name == "pilotzone_samples_total"
    }
    assert samples == {PERMITTED: 10, UNPERMITTED: 2_001}
    incidents_total = {
        dict(labels)["operator"]: value
        for (name, labels), value in got.items()
        if name == "pilotzone_incidents_total"
    }
    assert incidents_total == {PERMITTED: 1, UNPERMITTED: 2_001}
    active = {
        dict(labels)["operator"]: value
        for (name, labels), value in got.items()
        if name == "pilotzone_active_vehicles"
    }
    assert active == {PERMITTED: 1, UNPERMITTED: 2_001}
    assert max(len(line) for line in text.splitlines()) < 1_000
