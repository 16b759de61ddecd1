"""When a running monitor received and first enforced each fence: exact records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pilotzone.zones.fences.enforcement import (
    EnforcementLog,
    EnforcementRecord,
    enforcement_sort_key,
    first_fix_in_force,
)
from pilotzone.zones.fences.loader import load_fence
from tests.zones.fences.fence_files import START_MS, write_fence

pytestmark = pytest.mark.fences

NOW = 1_775_001_000.25
"""A processing time (seconds since 1970), before the fence takes effect."""


def times(*seconds: float) -> np.ndarray:
    return np.array([START_MS + round(s * 1000) for s in seconds], dtype=np.int64)


def test_a_fence_is_received_once_then_enforced_by_its_first_fix_in_force(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))
    log = EnforcementLog()
    assert log.receive(fence, NOW) == [
        EnforcementRecord("RECEIVED", "fire-1", fence.digest, "gwangju", START_MS, NOW)
    ]
    assert log.receive(fence, NOW + 5) == []  # the watch emits it again: nothing new
    assert log.judged([fence], times(-10, -1), NOW + 6) == []  # before it took effect
    (enforced,) = log.judged([fence], times(-1, 3, 2), NOW + 7)
    assert enforced == EnforcementRecord(
        "ENFORCED", "fire-1", fence.digest, "gwangju", START_MS, NOW, START_MS + 2000, NOW + 7
    )
    assert log.judged([fence], times(4), NOW + 8) == []
    assert enforced.to_json() == {
        "status": "ENFORCED",
        "fence_id": "fire-1",
        "digest": fence.digest,
        "pilot_zone": "gwangju",
        "effective_from": "2026-04-01T00:00:00.000Z",
        "received_at": "2026-03-31T23:50:00.250Z",
        "first_fix_time": "2026-04-01T00:00:02.000Z",
        "judged_at": "2026-03-31T23:50:07.250Z",
    }


def test_fixes_after_until_do_not_enforce_and_an_unreceived_fence_is_received_when_judged(
    tmp_path: Path,
) -> None:
    fence = load_fence(write_fence(tmp_path, until="2026-04-01T00:01:00+00:00"))
    assert first_fix_in_force(fence, times(60, 61)) is None
    assert first_fix_in_force(fence, times(59.999, 0)) == START_MS
    log = EnforcementLog()
    (enforced,) = log.judged([fence], times(30), NOW)
    assert (enforced.status, enforced.received_at_s, enforced.judged_at_s) == ("ENFORCED", NOW, NOW)


def test_records_sort_by_reception_fence_and_step(tmp_path: Path) -> None:
    fence = load_fence(write_fence(tmp_path))
    log = EnforcementLog()
    rows = [r.to_json() for r in log.judged([fence], times(1), NOW)] + [
        r.to_json() for r in EnforcementLog().receive(fence, NOW)
    ]
    assert [row["status"] for row in sorted(rows, key=enforcement_sort_key)] == ["RECEIVED", "ENFORCED"]
