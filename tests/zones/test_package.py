"""The zones package stays pure domain code: importable and testable without Apache Beam."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pilotzone import zones


@pytest.mark.slow
def test_importing_zones_does_not_import_apache_beam() -> None:
    code = "import sys, pilotzone.zones, pilotzone.schemas.validate, pilotzone.pipelines.cli.zones; print('apache_beam' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_public_names_are_exported() -> None:
    assert sorted(zones.__all__) == sorted(name for name in zones.__all__ if hasattr(zones, name))
    assert {"load_zones", "winning_rule", "rules_at", "AreaIndex", "ZoneConfigError"} <= set(zones.__all__)
