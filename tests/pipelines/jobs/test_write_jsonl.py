"""The replay's JSON Lines files, gathered in one step: sorted, and empty files still written;
the stream's bundle writers all find their folder however many set up at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.jobs.replay import WriteSortedJsonlFiles
from pilotzone.pipelines.jobs.stream import ensure_folder


def _by_name(row: dict[str, str]) -> str:
    return row["name"]


def _by_id(row: dict[str, int]) -> int:
    return row["id"]


def test_each_input_becomes_its_own_sorted_file_and_an_empty_input_an_empty_file(tmp_path: Path) -> None:
    names, ids, nothing = tmp_path / "names.jsonl", tmp_path / "ids.jsonl", tmp_path / "nothing.jsonl"
    with TestPipeline(runner="FnApiRunner") as pipeline:
        lines = (
            pipeline | "Names" >> beam.Create([{"name": "서울"}, {"name": "busan"}, {"name": "Ärhus"}]),
            pipeline | "Ids" >> beam.Create([{"id": 3}, {"id": 1}, {"id": 2}, {"id": 1}]),
            pipeline | "Nothing" >> beam.Create([]),
        ) | WriteSortedJsonlFiles([(names, _by_name), (ids, _by_id), (nothing, _by_id)])
        assert_that(lines, equal_to([3, 4, 0]))
    assert names.read_text(encoding="utf-8") == "".join(
        json.dumps({"name": name}, ensure_ascii=False) + "\n" for name in ("busan", "Ärhus", "서울")
    )
    assert ids.read_text(encoding="utf-8") == "".join(f'{{"id": {i}}}\n' for i in (1, 1, 2, 3))
    assert nothing.read_bytes() == b""


def test_nothing_at_all_still_writes_every_file_empty(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    with TestPipeline(runner="FnApiRunner") as pipeline:
        _ = (
            pipeline | "First" >> beam.Create([]),
            pipeline | "Second" >> beam.Create([]),
        ) | WriteSortedJsonlFiles([(first, _by_id), (second, _by_id)])
    assert (first.read_bytes(), second.read_bytes()) == (b"", b"")


def test_workers_setting_up_at_once_all_find_their_folder(tmp_path: Path) -> None:
    # Prism sets up a step's workers on several threads at once: each checks the folder,
    # and all but the first to create it met "File exists" before.
    for attempt in range(40):
        folder = str(tmp_path / f"run{attempt}" / "dead-letters")
        start = threading.Barrier(8)
        failures: list[BaseException] = []

        def set_up(
            target: str = folder, barrier: threading.Barrier = start, found: list[BaseException] = failures
        ) -> None:
            barrier.wait()
            try:
                ensure_folder(target)
            except OSError as exc:
                found.append(exc)

        threads = [threading.Thread(target=set_up) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert failures == []
        assert Path(folder).is_dir()


def test_a_folder_that_cannot_be_made_is_still_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OSError):
        ensure_folder(str(blocker / "dead-letters"))
