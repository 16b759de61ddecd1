"""The fence-latency benchmark end to end: a broker, the stream on Prism, a live fleet, fences
published while it drives; every fence enforced and every parked vehicle reported overdue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.pipelines.benchmark import main
from tests.pipelines.live.kafka_clients import engines_or_skip

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fences]


def test_fence_latency_benchmark_measures_every_fence_and_overdue_vehicle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engines_or_skip()
    status = main(["--fence-latency", "--poll", "1", "--allowed-lateness", "2", "--fences", "2",
                   "--parked", "2", "--drivers", "2", "--exit-within", "10", "--workdir", str(tmp_path)])  # fmt: skip
    assert status == 0
    figures_line, summary = capsys.readouterr().out.splitlines()
    figures = json.loads(figures_line)
    assert len(figures["settings"].pop("load_average_1m")) == 2
    assert figures["settings"] == {
        "runner": "prism",
        "poll_s": 1.0,
        "allowed_lateness_s": 2.0,
        "fences": 2,
        "vehicles": 6,
        "parked_per_fence": 2,
        "exit_within_s": 10.0,
        "fleet_duration_s": 15 + 10 + 10 + 10 + 2 + 1 + 15,
    }
    assert [(row["fence_id"], row["ahead_s"]) for row in figures["enforcement"]] == [
        ("bench-fence-0", pytest.approx(0.0, abs=1.0)),  # effective_from = now, read before publishing
        ("bench-fence-1", pytest.approx(10.0, abs=1.0)),
    ]
    # Every fence was received and enforced, every parked vehicle reported overdue; on a loaded
    # machine within a minute (the benchmark's figures are what is reported, not asserted).
    measured = {
        "received_after_s": 2,
        "enforced_after_s": 2,
        "judged_behind_s": 2,
        "overdue_after_deadline_s": 4,
    }
    for name, count in measured.items():
        assert (figures[name]["count"], figures[name]["missing"]) == (count, 0), name
        assert 0 < figures[name]["max"] < 60, name
    assert summary.startswith("poll 1 s, allowed lateness 2 s: fence enforced p50 ")
