"""A small simulated fleet with every rule kind injected, shared by pipeline tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pilotzone.pipelines.simulator import SimulationOptions, simulate
from pilotzone.zones import Zone

EVERY_KIND_ZONE = Path(__file__).parent / "every-kind-zone.yaml"
RULE_KINDS = (
    "speed_limit",
    "leave_boundary",
    "restricted_area",
    "telemetry_gap",
    "driving_mode",
    "dwell",
    "permit",
    "vehicle_event",
    "operating_hours",
)


def every_kind_fleet(
    zones: Sequence[Zone], out: Path, *, vehicles: int = 24, duration_s: float = 420, seed: int = 11
) -> Path:
    """Simulate into ``out``: every rule kind injected at 12 %, contract defects at 30 %."""
    simulate(
        zones,
        SimulationOptions(
            vehicles=vehicles,
            duration_s=duration_s,
            rate_hz=1.0,
            seed=seed,
            inject=dict.fromkeys(RULE_KINDS, 0.12),
            defects=0.3,
        ),
        out,
    )
    return out
