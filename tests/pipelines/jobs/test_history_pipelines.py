"""Replay and stream of a config history: the same incidents every time, and the stream's equal
the replay's.

The history is the every-kind test zone twice, identical apart from dates, changing halfway
through the small fleet's five minutes: whatever differs from the single config's incidents
must be the change itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.demo import final_states
from pilotzone.zones import load_zones
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.pipelines.live.feeding import latest_summaries, rows_in

pytestmark = [pytest.mark.fences, pytest.mark.slow]

CHANGE = "2026-11-23T10:02:30+09:00"
CHANGE_MS = int(dt.datetime.fromisoformat(CHANGE).timestamp() * 1000)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the every-kind zone as two versions changing at ``CHANGE``."""
    folder = tmp_path_factory.mktemp("history") / "every-kind"
    folder.mkdir()
    text = EVERY_KIND_ZONE.read_text(encoding="utf-8")
    (folder / "1.yaml").write_text(
        f"{text}\neffective_from: 2026-01-01T00:00:00+09:00\nuntil: {CHANGE}\n", encoding="utf-8"
    )
    (folder / "2.yaml").write_text(f"{text}\neffective_from: {CHANGE}\n", encoding="utf-8")
    return folder


def replay(zones: Path, fleet: Path, out: Path, *extra: str) -> Path:
    pattern = str(fleet / "telemetry" / "**" / "*.avro")
    assert main(["run", "--zones", str(zones), "--input", pattern, "--incidents", str(out / "incidents.jsonl"),
                 "--allowed-lateness", "3600", "--quiet", *extra]) == 0  # fmt: skip
    return out


def without_version(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "config_version"}


def ms(text: str | None) -> int | None:
    """An incident log time (RFC 3339) in ms."""
    return None if text is None else int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def straddles(row: dict[str, Any]) -> bool:
    end = ms(row["end_time"])
    return ms(row["start_time"]) < CHANGE_MS and (end is None or end > CHANGE_MS)


def started_before_change(row: dict[str, Any]) -> bool:
    return ms(row["start_time"]) < CHANGE_MS


def test_a_replayed_history_gives_the_same_incidents_and_the_single_configs_apart_from_the_change(
    tmp_path: Path, small_fleet: Path, history: Path
) -> None:
    first = replay(history, small_fleet, tmp_path / "first")
    second = replay(history, small_fleet, tmp_path / "second")
    for name in ("incidents.jsonl", "summaries.jsonl"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # The spilled replay (vehicles grouped on disk in buckets) judges the same way.
    spilled = replay(history, small_fleet, tmp_path / "spilled", "--spill-buckets", "3")
    assert final_states(read_jsonl(spilled / "incidents.jsonl")) == final_states(
        read_jsonl(first / "incidents.jsonl")
    )

    single = final_states(
        read_jsonl(replay(EVERY_KIND_ZONE, small_fleet, tmp_path / "single") / "incidents.jsonl")
    )
    judged = final_states(read_jsonl(first / "incidents.jsonl"))
    old, new = (zone.version for zone in load_zones([history]))
    # Incidents away from the change: the single config's, under the version in force then.
    away = {key: row for key, row in single.items() if not straddles(row)}
    assert {key: without_version(judged[key]) for key in away} == {
        key: without_version(row) for key, row in away.items()
    }
    assert all(judged[key]["config_version"] == (old if started_before_change(row) else new)
               for key, row in away.items())  # fmt: skip
    # Incidents open at the change: closed there under the old version, and (where the
    # vehicle still violated) opened again under the new one.
    split = {(row["vehicle_id"], row["rule_id"]) for row in single.values() if straddles(row)}
    extra = {key: row for key, row in judged.items() if key not in away}
    assert {(row["vehicle_id"], row["rule_id"]) for row in extra.values()} <= split
    for row in extra.values():
        if started_before_change(row):
            assert (row["config_version"], row["end_time"] is not None) == (old, True)
            assert ms(row["end_time"]) <= CHANGE_MS
        else:
            assert row["config_version"] == new
    closed_at_change = [row for row in extra.values() if ms(row["end_time"]) == CHANGE_MS]
    reopened = [row for row in extra.values() if not started_before_change(row)]
    # Two incidents were open at the change; both vehicles still violated after it.
    assert (len(split), len(closed_at_change), len(reopened), len(extra)) == (2, 2, 2, 4)

    # Summaries name the version that judged their samples; the minute cut by the change has a
    # row per version, and per window the versions' samples and active vehicles add up to the
    # single config's (a vehicle driving across the change is counted once).
    summaries = read_jsonl(first / "summaries.jsonl")
    plain = read_jsonl(tmp_path / "single" / "summaries.jsonl")
    assert {row["config_version"] for row in summaries} == {old, new}
    cut = {row["config_version"] for row in summaries if row["window_start"] == "2026-11-23T01:02:00.000Z"}
    assert cut == {old, new}
    for field in ("samples", "active_vehicles"):
        assert per_window(summaries, field) == per_window(plain, field), field


def per_window(rows: list[dict[str, Any]], field: str) -> Counter[tuple[str, str, str]]:
    """A summary figure summed over config versions, per window, operator and class."""
    totals: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        totals[(row["window_start"], row["operator"], row["vehicle_class"])] += row[field]
    return totals


@pytest.mark.integration
def test_watched_folder_stream_of_a_history_gives_the_replays_incidents(
    tmp_path: Path, small_fleet: Path, history: Path
) -> None:
    pattern = str(small_fleet / "telemetry" / "**" / "*.avro")
    common = ["--zones", str(history), "--allowed-lateness", "3600", "--quiet"]
    replayed = replay(history, small_fleet, tmp_path / "replay")
    status = main(
        ["stream", *common, "--source", "folder", "--watch", pattern, "--poll", "1", "--run-for", "3",
         "--incidents-dir", str(tmp_path / "stream")]
    )  # fmt: skip
    assert status == 0
    lifecycle = rows_in(tmp_path / "stream" / "incidents")
    versions = {row["config_version"] for row in lifecycle}
    assert versions == {zone.version for zone in load_zones([history])}
    assert final_states(lifecycle) == {
        row["incident_id"]: row for row in read_jsonl(replayed / "incidents.jsonl")
    }
    assert latest_summaries(rows_in(tmp_path / "stream" / "summaries")) == latest_summaries(
        read_jsonl(replayed / "summaries.jsonl")
    )
