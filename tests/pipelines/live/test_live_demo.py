"""``pilotzone demo --live``: broker, real-time fleet, monitor on Prism, comparison and latency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_live_demo_leaves_incidents_replay_and_latency(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--live", "--zone", "gwangju", "--vehicles", "12", "--duration", "45",
                 "--seed", "3", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    live = {row["incident_id"]: row for row in read_jsonl(out / "incidents.jsonl")}
    replay = {row["incident_id"]: row for row in read_jsonl(out / "replay" / "incidents.jsonl")}
    closed = {key: row for key, row in replay.items() if row["end_time"] is not None}
    assert set(replay) <= set(live)
    assert {key: live[key] for key in closed} == closed
    latency = json.loads((out / "latency.json").read_text())
    opened = [row for row in latency["incidents"]]
    assert {row["incident_id"] for row in opened} == set(live)
    measured = sorted(row["latency_s"] for row in opened)
    assert latency["latency_s"]["count"] == len(measured) == len(live)
    assert latency["latency_s"]["max"] == measured[-1]
    assert all(0 < value < 120 for value in measured)
