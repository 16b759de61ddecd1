"""Fixtures for live-mode tests: a real Kafka broker and a tiny simulated fleet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pilotzone.pipelines.live.broker import KafkaBroker
from pilotzone.pipelines.simulator import SimulationOptions, simulate
from pilotzone.zones import Zone
from tests.pipelines.live.kafka_clients import engines_or_skip


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    """One broker per test module (starting one takes a few seconds)."""
    with KafkaBroker(engines=engines_or_skip()) as running:
        yield running


@pytest.fixture(scope="session")
def tiny_fleet(tmp_path_factory: pytest.TempPathFactory, every_kind_zones: list[Zone]) -> Path:
    """4 vehicles for 2 minutes at 1 Hz, with speeding and a telemetry gap injected (defect-free, so
    every record compares equal to itself: NaN defects would not)."""
    out = tmp_path_factory.mktemp("live-fleet") / "sim"
    simulate(
        every_kind_zones,
        SimulationOptions(
            vehicles=4,
            duration_s=120,
            rate_hz=1.0,
            seed=3,
            slice_s=60,
            inject={"speed_limit": 0.5, "telemetry_gap": 0.25},
        ),
        out,
    )
    return out
