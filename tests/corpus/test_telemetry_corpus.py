"""The hostile telemetry corpus: each file alone, all of them mixed into a good fleet's replay.

Every file in ``tests/corpus/telemetry`` once crashed, hung, exhausted memory or corrupted the
figures; now each must become exactly the dead letters ``make_corpus.EXPECTED`` lists, with
everything else in the file still evaluated.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pilotzone.pipelines.simulator import SimulationOptions, simulate
from pilotzone.pipelines.transforms.decode import DecodeFn
from pilotzone.zones import load_zones
from tests.corpus.telemetry.make_corpus import BUILDERS, EXPECTED, HERE
from tests.pipelines.metrics.exposition import samples_of
from tests.processes import run_cli

GWANGJU = Path(__file__).resolve().parents[2] / "zones" / "configs" / "gwangju.yaml"


def _outcome(name: str, data: bytes) -> tuple[dict[str, int], int]:
    """Dead-lettered records per reason and records passed on, by the pipeline's decode step."""
    step = DecodeFn()
    step.setup()
    dead: Counter[str] = Counter()
    passed = 0
    for output in step.process((name, data)):
        value = getattr(output, "value", output)
        if isinstance(value, dict):
            dead[value["reason"]] += value["records"]
        else:
            passed += len(value[1])
    return dict(dead), passed


def test_the_corpus_lists_every_file_it_holds() -> None:
    on_disk = sorted(p.name for p in HERE.glob("*.avro"))
    assert on_disk == sorted(BUILDERS) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_hostile_file_becomes_its_dead_letters_and_the_rest_passes(name: str) -> None:
    assert _outcome(name, (HERE / name).read_bytes()) == EXPECTED[name]


@pytest.mark.slow
def test_the_files_are_what_the_script_builds(tmp_path: Path) -> None:
    for name, builder in BUILDERS.items():
        assert builder() == (HERE / name).read_bytes(), (
            f"rebuild {name}: python -m tests.corpus.telemetry.make_corpus"
        )


BOMB_PROBE = """
import resource, sys
from pilotzone.schemas.decode import TelemetryDecoder
data = open(sys.argv[1], "rb").read()
decoder = TelemetryDecoder()
list(decoder.decode(b"", "warm-up"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
items = list(decoder.decode(data, "bomb"))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) // 1024, [str(getattr(i, "reason", "records")) for i in items])
"""


def test_a_deflate_bomb_costs_the_block_bound_not_the_gigabyte() -> None:
    """ru_maxrss is a high-water mark, so it is read in a fresh process around one decode."""
    result = subprocess.run(
        [sys.executable, "-c", BOMB_PROBE, str(HERE / "deflate-bomb.avro")],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    grown_mib, items = result.stdout.split(" ", 1)
    assert items.strip() == "['block_too_large', 'records']"
    # The bound is MAX_BLOCK_BYTES (16 MiB) plus the bytes read; before the bound it was 2.2 GB.
    assert int(grown_mib) < 64, f"peak memory grew {grown_mib} MiB for a 1 GiB bomb"


def test_decoding_the_whole_corpus_ends_in_bounded_time() -> None:
    """In a child process with a timeout, so a hang fails the test instead of stopping the suite."""
    probe = (
        "import sys, pathlib; from pilotzone.schemas.decode import TelemetryDecoder as D; d = D()\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.avro')): list(d.decode(p.read_bytes(), p.name))"
    )
    subprocess.run([sys.executable, "-c", probe, str(HERE)], check=True, capture_output=True, timeout=60)


@pytest.mark.slow
def test_a_replay_of_every_hostile_file_mixed_into_a_good_fleet_accounts_for_every_record(
    tmp_path: Path,
) -> None:
    uploads = tmp_path / "uploads"
    simulate(
        load_zones([GWANGJU]),
        SimulationOptions(vehicles=4, duration_s=120, rate_hz=1.0, seed=5, inject={}),
        tmp_path / "fleet",
    )
    fleet = sorted((tmp_path / "fleet").rglob("*.avro"))
    (uploads / "fleet").mkdir(parents=True)
    for path in fleet:
        shutil.copyfile(path, uploads / "fleet" / f"{path.parent.name}-{path.name}")
    shutil.copytree(HERE, uploads / "hostile", ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    fleet_records = sum(_outcome(p.name, p.read_bytes())[1] for p in fleet)
    command = Path(sys.executable).with_name("pilotzone")
    result = subprocess.run(  # noqa: PLW1510 (the return code is asserted with stderr shown)
        [str(command), "run", "--zones", str(GWANGJU), "--input", "uploads/*/*.avro", "--quiet",
         "--incidents", "out/incidents.jsonl", "--metrics-file", "out/metrics.txt"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    expected_dead: Counter[str] = Counter()
    for reasons, _ in EXPECTED.values():
        expected_dead.update(reasons)
    passed = sum(good for _, good in EXPECTED.values())
    dead_lines = [json.loads(line) for line in (out / "dead-letters.jsonl").read_text().splitlines()]
    dead = Counter[str]()
    for line in dead_lines:
        dead[line["reason"]] += line["records"]
    assert dict(dead) == dict(expected_dead)
    metrics = samples_of((out / "metrics.txt").read_text())
    read = metrics[("pilotzone_records_read_total", ())]
    exported_dead = {
        dict(labels)["reason"]: value
        for (name, labels), value in metrics.items()
        if name == "pilotzone_dead_letters_total"
    }
    evaluated = sum(value for (name, _), value in metrics.items() if name == "pilotzone_samples_total")
    assert exported_dead == dict(expected_dead)
    assert read == fleet_records + passed + sum(expected_dead.values())
    assert read == evaluated + sum(exported_dead.values())
    operators = {
        dict(labels)["operator"] for (name, labels), _ in metrics.items() if name == "pilotzone_samples_total"
    }
    permitted = {o.id for o in load_zones([GWANGJU])[0].config.operators}
    assert operators <= permitted | {"unpermitted"}
    assert "unpermitted" in operators
    assert (out / "incidents.jsonl").stat().st_size > 0
    # The run's audit record: written last, every input file digested, the same counts, and it
    # verifies against the outputs and the inputs.
    manifest = json.loads((out / "run-manifest.json").read_text())
    assert manifest["counts"]["records_read"] == read
    assert manifest["counts"]["records_dead_lettered"] == sum(expected_dead.values())
    assert len(manifest["inputs"]["files"]) == len(fleet) + len(EXPECTED)
    verify = subprocess.run(  # noqa: PLW1510 (the return code is asserted with stdout shown)
        [str(command), "manifest", "verify", "out", "--inputs-root", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_the_folder_stream_on_prism_survives_every_hostile_file_and_dead_letters_them_as_the_replay(
    tmp_path: Path,
) -> None:
    # A poison pill on a stream restarts the job for ever: here every hostile file lands in the
    # watched folder beside a good fleet, and the stream (Prism, the default runner) must drain
    # with the replay's dead letters and incidents.
    simulate(
        load_zones([GWANGJU]),
        SimulationOptions(vehicles=2, duration_s=60, rate_hz=1.0, seed=7, inject={}),
        tmp_path / "fleet",
    )
    uploads = tmp_path / "uploads"
    (uploads / "fleet").mkdir(parents=True)
    for path in sorted((tmp_path / "fleet").rglob("*.avro")):
        shutil.copyfile(path, uploads / "fleet" / f"{path.parent.name}-{path.name}")
    shutil.copytree(HERE, uploads / "hostile", ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    command = str(Path(sys.executable).with_name("pilotzone"))
    common = ["--zones", str(GWANGJU), "--allowed-lateness", "3600", "--quiet"]
    replay = subprocess.run(  # noqa: PLW1510 (the return code is asserted with stderr shown)
        [command, "run", *common, "--input", "uploads/*/*.avro", "--incidents", "replay/incidents.jsonl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    stream = run_cli(
        [command, "stream", *common, "--source", "folder", "--watch", "uploads/*/*.avro", "--poll", "1",
         "--run-for", "5", "--incidents-dir", "stream"],
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert stream.returncode == 0, stream.stderr
    streamed: Counter[str] = Counter()
    for part in sorted((tmp_path / "stream" / "dead-letters").glob("*.jsonl")):
        for line in part.read_text().splitlines():
            row = json.loads(line)
            streamed[row["reason"]] += row["records"]
    replayed: Counter[str] = Counter()
    for line in (tmp_path / "replay" / "dead-letters.jsonl").read_text().splitlines():
        row = json.loads(line)
        replayed[row["reason"]] += row["records"]
    expected: Counter[str] = Counter()
    for reasons, _ in EXPECTED.values():
        expected.update(reasons)
    assert dict(replayed) == dict(expected)
    assert dict(streamed) == dict(expected)
