"""The benchmark's large run (``--fleet-scale``): its options and the lines it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pilotzone.pipelines.benchmark import main


def test_a_bad_fleet_scale_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--fleet-scale", "10000", "--workdir", str(tmp_path)])
    assert exit_.value.code == 2
    assert "'10000': write VEHICLESxSECONDS, for example 10000x3600" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_fleet_too_short_for_its_injections_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--fleet-scale", "2x600", "--areas", "5", "--workdir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "benchmark: --fleet-scale 2x600: dwell injections need at least 660 s of driving in zone gwangju: "
        "give a duration of 660 s or more, or a dwell rate of 0\n"
    )


@pytest.mark.slow
def test_the_large_run_reports_rates_and_the_process_trees_peak(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["--fleet-scale", "20x1000", "--areas", "20", "--workdir", str(tmp_path), "--sim-workers", "1"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("bulk fleet: 20 vehicles x 1,000 s, 20,000 records in 1 parts")
    assert lines[1].startswith("[large] baseline: fastavro decoded 20,000 records of 1 part(s) in ")
    assert re.fullmatch(
        r"\[large\] replay:   20,000 records through the pipeline in [\d.]+ s \(direct runner, 2 workers, "
        r"grouped in memory\)",
        lines[2],
    )
    assert re.fullmatch(r"\[large\] events/s: [\d,]+   fastavro decode/s: [\d,]+   ratio: [\d.]+", lines[3])
    peak = re.fullmatch(
        r"\[large\] peak RSS of the replay's process tree: ([\d,]+) MiB \(sum over up to (\d+) processes; "
        r"its largest process alone ([\d,]+) MiB\)",
        lines[4],
    )
    assert peak is not None
    assert int(peak[2]) >= 1
    assert re.fullmatch(
        r"\[large\] CPU time of the replay's process tree: [\d,]+ s \(user \+ system\), [\d,]+ events per "
        r"CPU-second; load average when done: [\d.]+ [\d.]+ [\d.]+",
        lines[5],
    )
    assert int(peak[1].replace(",", "")) >= int(peak[3].replace(",", "")) > 50
    fleet = json.loads((tmp_path / "bulk-20x1000-seed1" / "fleet.json").read_text(encoding="utf-8"))
    incidents = (tmp_path / "out-bulk-20x1000" / "incidents.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(incidents) == sum(fleet["injected"].values()) == 1
    # A second run reuses the fleet it wrote.
    assert main(argv) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .startswith("bulk fleet: 20 vehicles x 1,000 s, 20,000 records")
    )


@pytest.mark.slow
def test_each_layouts_peak_is_its_own_not_the_launching_process(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A high-water mark of 1 GiB in this process: a spawned replay reading its own getrusage
    # could report it (it is inherited across the exec); sampled from the tree, it cannot.
    ballast = b"\x01" * 2**30
    del ballast
    argv = ["--vehicles", "6", "--duration", "120", "--areas", "5", "--workdir", str(tmp_path)]
    assert main([*argv, "--sim-workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    peaks = [
        re.fullmatch(
            rf"\[{layout}\] peak RSS of the replay \(its largest process\): ([\d,]+) MiB "
            r"\([\d,]+ samples, grouped in memory\)   sub-areas: \d+",
            line,
        )
        for layout in ("uploads", "compacted")
        for line in lines
        if line.startswith(f"[{layout}] peak RSS")
    ]
    assert len(peaks) == 2
    for peak in peaks:
        assert peak is not None
        assert 50 < int(peak[1].replace(",", "")) < 1024
    assert lines[-1] == "incidents and summaries of both layouts identical: True"
