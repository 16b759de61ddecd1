"""The replay and the stream write the register: the same rows as the incident log, again and again.

A replay upserts every incident's final state, twice over (idempotent), into a SQLite file;
a stream on Prism over the same uploads (a watched folder, drained after a few seconds)
upserts every lifecycle record as it comes into a real PostgreSQL: both registers hold
exactly the replay's incident log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pilotzone.pipelines.cli import main
from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.register.store import Register
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.servers import postgresql

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgresql() as url:
        yield url


def held(url: str) -> list[dict[str, Any]]:
    """The register's incidents as incident-log lines, in the log's order."""
    with Register.open(url) as register:
        entries = register.entries()
    rows = [entry.record.to_json() for entry in entries]
    return sorted(rows, key=lambda row: (row["start_time"], row["incident_id"]))


def test_replay_and_stream_write_the_incident_log_into_the_register(
    tmp_path: Path, small_fleet: Path, postgres: str
) -> None:
    pattern = str(small_fleet / "telemetry" / "**" / "*.avro")
    common = ["--zones", str(EVERY_KIND_ZONE), "--allowed-lateness", "3600", "--quiet"]
    sqlite = f"sqlite:///{tmp_path / 'register.db'}"
    replay = ["run", *common, "--input", pattern, "--incidents", str(tmp_path / "replay" / "incidents.jsonl"),
              "--register", sqlite]  # fmt: skip
    assert main(replay) == 0
    log = read_jsonl(tmp_path / "replay" / "incidents.jsonl")
    assert len(log) == 8 and sum(row["end_time"] is None for row in log) == 2
    assert held(sqlite) == log
    assert main(replay) == 0  # the same replay again changes nothing
    assert held(sqlite) == log

    stream = ["stream", *common, "--source", "folder", "--watch", pattern, "--poll", "1", "--run-for", "3",
              "--incidents-dir", str(tmp_path / "stream"), "--register", postgres]  # fmt: skip
    assert main(stream) == 0
    assert held(postgres) == log
