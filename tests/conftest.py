"""Fixtures shared across test packages: the every-kind test zone and a small simulated fleet."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pilotzone.zones import Zone, load_zones
from tests.pipelines.fleets import EVERY_KIND_ZONE, every_kind_fleet
from tests.processes import become_subreaper, stop_descendants


def pytest_configure(config: pytest.Config) -> None:
    """Adopt what the tests start, so nothing they orphan outlives the run (tests/processes.py)."""
    become_subreaper()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop whatever is still running below the tests, and say what: an engine Beam keeps for
    the life of the process (Prism's job server) is expected here, anything else is a leak."""
    left = stop_descendants()
    if left:
        print(
            f"\nstopped {len(left)} process(es) still running after the tests:",
            *left,
            sep="\n  ",
            file=sys.stderr,
        )


@pytest.fixture(scope="session")
def every_kind_zones() -> list[Zone]:
    """The test zone with a rule of every kind."""
    return load_zones([EVERY_KIND_ZONE])


@pytest.fixture(scope="session")
def small_fleet(tmp_path_factory: pytest.TempPathFactory, every_kind_zones: list[Zone]) -> Path:
    """12 vehicles for 5 minutes with every rule kind and contract defects injected (simulated once)."""
    return every_kind_fleet(
        every_kind_zones, tmp_path_factory.mktemp("fleet") / "sim", vehicles=12, duration_s=300, seed=5
    )
