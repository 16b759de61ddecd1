"""The in-process handoff: chunks stay in the process, only tokens cross the runner, same outputs."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pilotzone.pipelines.jobs.replay import ReplayOutputs, ReplaySettings, pipeline_options, runner_totals
from pilotzone.pipelines.jobs.replay import build_pipeline as build_replay
from pilotzone.pipelines.transforms.buckets import shared_strings
from pilotzone.pipelines.transforms.handoff import HandoffError, InProcessHandoff, runs_in_this_process
from pilotzone.zones import Zone
from tests.pipelines.fleets import every_kind_fleet

OUTPUT_FILES = ("incidents.jsonl", "summaries.jsonl", "dead-letters.jsonl")


def test_a_parked_value_is_taken_back_once() -> None:
    handoff, other = InProcessHandoff(), InProcessHandoff()
    value = {"samples": [1, 2, 3]}
    token = handoff.park(value)
    assert other.park("another run's value") != token
    assert handoff.parked() == 1
    assert handoff.take(token) is value
    assert handoff.parked() == 0
    with pytest.raises(HandoffError, match=r"not in this process: .*runner direct, not direct-multiprocess"):
        handoff.take(token)  # a bundle run twice would get here: loud, not an empty bucket
    with pytest.raises(HandoffError):
        other.take(token)  # tokens belong to their run
    assert other.parked() == 1
    other.discard()
    assert other.parked() == 0


def test_the_handoff_is_used_only_where_the_workers_are_this_process() -> None:
    def options(runner: str, *extra: str) -> PipelineOptions:
        return pipeline_options(ReplaySettings(runner=runner, workers=2, extra_options=extra))

    assert runs_in_this_process(options("direct"))
    assert runs_in_this_process(options("direct", "--direct_running_mode=multi_threading"))
    assert not runs_in_this_process(options("direct", "--direct_running_mode=multi_processing"))
    assert not runs_in_this_process(options("direct-multiprocess"))
    assert not runs_in_this_process(PipelineOptions(["--runner=PrismRunner"]))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, every_kind_zones: list[Zone]) -> Path:
    return every_kind_fleet(
        every_kind_zones, tmp_path_factory.mktemp("fleet") / "sim", vehicles=10, duration_s=300
    )


def _replay(zones: list[Zone], fleet: Path, out: Path, handoff: InProcessHandoff | None) -> dict[str, int]:
    outputs = ReplayOutputs(
        incidents_jsonl=out / "incidents.jsonl",
        dead_letter_jsonl=out / "dead-letters.jsonl",
        summaries_jsonl=out / "summaries.jsonl",
    )
    settings = ReplaySettings(progress=False)
    pipeline = beam.Pipeline(options=pipeline_options(settings))
    build_replay(
        pipeline, zones, str(fleet / "telemetry" / "**" / "*.avro"), outputs, settings, handoff=handoff
    )
    result = pipeline.run()
    result.wait_until_finish()
    return runner_totals(result.metrics().query())


def test_handing_chunks_off_in_process_writes_the_same_bytes_and_counts(
    tmp_path: Path, every_kind_zones: list[Zone], fleet: Path
) -> None:
    through_runner = _replay(every_kind_zones, fleet, tmp_path / "runner", None)
    handoff = InProcessHandoff()
    handed_off = _replay(every_kind_zones, fleet, tmp_path / "handoff", handoff)
    assert handoff.parked() == 0  # every chunk parked was taken by the evaluation
    for name in OUTPUT_FILES:
        assert (tmp_path / "handoff" / name).read_bytes() == (tmp_path / "runner" / name).read_bytes(), name
    clocked = {name for name in through_runner if name.startswith("delay_ms")}  # upload delays: wall clock
    assert {k: v for k, v in handed_off.items() if k not in clocked} == {
        k: v for k, v in through_runner.items() if k not in clocked
    }
    assert handed_off["records_read"] > 2500
    assert handed_off["incidents_opened"] > 0


def _objects(*values: str) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = ["".join(list(value)) for value in values]  # a fresh str per row, as a decoder makes
    return column


def test_parked_ids_share_one_object_per_value() -> None:
    column = _objects("veh-b", "veh-b", "차량-가", "veh-b", "veh-b\x00", "veh-b\x00", "veh-a")
    assert len({id(value) for value in column}) == 7
    shared = shared_strings(column)
    assert shared.dtype == object
    assert shared.tolist() == column.tolist()
    assert len({id(value) for value in shared}) == 4  # "veh-b" twice in separate runs: still one object
    assert shared[0] is shared[1] is shared[3]
    assert shared[4] is shared[5] and shared[4] != shared[0]
    assert shared_strings(_objects()).tolist() == []
    assert shared_strings(_objects("only")).tolist() == ["only"]
