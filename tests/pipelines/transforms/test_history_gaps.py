"""End-of-input gap confirmation reads the threshold of the version that opened the gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotzone.pipelines.transforms.gaps import gap_observed, max_gaps_ms
from pilotzone.zones import load_zones
from pilotzone.zones.evaluate import IncidentRecord
from tests.zones.evaluate.test_evaluate import HERE

pytestmark = pytest.mark.fences


def test_each_version_keeps_its_own_gap_threshold(tmp_path: Path) -> None:
    text = (HERE / "test-zone.yaml").read_text(encoding="utf-8")
    (tmp_path / "1.yaml").write_text(
        f"{text}effective_from: 2026-01-01T00:00:00+09:00\nuntil: 2026-06-01T00:00:00+09:00\n",
        encoding="utf-8",
    )
    relaxed = text.replace(
        "{id: gap, kind: telemetry_gap, max_gap_s: 10}", "{id: gap, kind: telemetry_gap, max_gap_s: 60}"
    )
    (tmp_path / "2.yaml").write_text(
        f"{relaxed}effective_from: 2026-06-01T00:00:00+09:00\n", encoding="utf-8"
    )
    first, second = load_zones([tmp_path])
    thresholds = max_gaps_ms([first, second])
    assert thresholds == {
        ("evaltest", first.version, "gap"): 10_000,
        ("evaltest", second.version, "gap"): 60_000,
    }

    def open_gap(version: str) -> IncidentRecord:
        return IncidentRecord(
            incident_id="i", status="OPENED", pilot_zone="evaltest", area=None, rule_id="gap",
            kind="telemetry_gap", severity="MINOR", vehicle_id="v", operator_id="op-a", start_ms=0,
            end_ms=None, peak_value=None, latitude=0.0, longitude=0.0, config_version=version,
            report_deadline_ms=None, explanation="",
        )  # fmt: skip

    # The input went on 30 s after the last fix: long enough for the first version's gap only.
    assert gap_observed(open_gap(first.version), 30_000, thresholds)
    assert not gap_observed(open_gap(second.version), 30_000, thresholds)
