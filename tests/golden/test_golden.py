"""Golden outputs: the demo, a replay with bad uploads and a benchmark-zone replay, byte for byte.

Recorded before the package was reorganised into ``pilotzone.*`` and kept since: a change that is
meant to preserve behaviour must leave every file here byte-identical. When a change is *meant*
to alter outputs, regenerate with ``PILOTZONE_REGENERATE_GOLDEN=1 pytest tests/golden`` and say
why in the commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import T0_MS, track, write_container

EXPECTED = Path(__file__).parent / "expected"
REGENERATE = os.environ.get("PILOTZONE_REGENERATE_GOLDEN") == "1"

pytestmark = pytest.mark.slow


WALL_CLOCK = "pilotzone_event_processing_delay_seconds"
"""The one family measured against the wall clock (event time to processing time): not golden."""


def pilotzone(*args: str, cwd: Path | None = None) -> None:
    """Run the installed command line (its behaviour, not its internals, is what is golden)."""
    command = Path(sys.executable).with_name("pilotzone")
    subprocess.run([str(command), *args], check=True, capture_output=True, text=True, cwd=cwd)


def golden_bytes(path: Path) -> bytes:
    """The file's bytes, without the wall-clock metric family in metrics files."""
    data = path.read_bytes()
    if path.suffix != ".txt":
        return data
    return b"".join(line for line in data.splitlines(keepends=True) if WALL_CLOCK.encode() not in line)


def compare(produced: Path, name: str) -> None:
    """``produced`` equals ``expected/name`` byte for byte (or becomes it when regenerating)."""
    expected = EXPECTED / name
    if REGENERATE:
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_bytes(golden_bytes(produced))
    assert golden_bytes(produced) == expected.read_bytes(), f"{name} differs from the golden output"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "demo"
    pilotzone(
        "demo",
        "--out",
        str(out),
        "--quiet",
        "--metrics-port",
        "0",
        "--metrics-file",
        str(out / "metrics.txt"),
    )
    return out


@pytest.mark.parametrize("name", ["incidents.jsonl", "summaries.jsonl", "dead-letters.jsonl", "metrics.txt"])
def test_demo_outputs_are_golden(demo: Path, name: str) -> None:
    compare(demo / name, f"demo/{name}")


def test_replay_with_bad_uploads_is_golden(demo: Path, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    telemetry = sorted((demo / "simulation-gwangju-60x900s-seed7" / "telemetry").rglob("*.avro"))
    for path in telemetry[:40]:
        (uploads / "good").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, uploads / "good" / path.name)
    bad = uploads / "bad"
    bad.mkdir()
    (bad / "garbage.avro").write_bytes(b"not an avro file at all" * 10)
    whole = telemetry[0].read_bytes()
    (bad / "truncated.avro").write_bytes(whole[: len(whole) // 2])
    samples = track(30, vehicle_id="veh-golden-0001")
    samples[3]["current_location_latitude"] = 91.0
    samples[7]["speed"] = float("nan")
    samples[12]["sequence_number"] = samples[11]["sequence_number"]
    samples[20]["current_location_timestamp"] = T0_MS - 3_600_000
    write_container(bad / "mixed.avro", samples)
    out = tmp_path / "out"
    pilotzone(
        "run",
        "--zones",
        str(GWANGJU),
        "--input",
        "uploads/*/*.avro",
        "--quiet",
        "--incidents",
        "out/incidents.jsonl",
        "--metrics-file",
        "out/metrics.txt",
        cwd=tmp_path,
    )
    for name in ["incidents.jsonl", "summaries.jsonl", "dead-letters.jsonl", "metrics.txt"]:
        compare(out / name, f"bad-uploads/{name}")


def test_benchmark_zone_replay_is_golden(tmp_path: Path) -> None:
    work = tmp_path / "bench"
    subprocess.run(
        [
            sys.executable,
            "-m",
            BENCHMARK,
            "--vehicles",
            "120",
            "--duration",
            "300",
            "--areas",
            "150",
            "--workdir",
            str(work),
            "--sim-workers",
            "1",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    for name in ["incidents.jsonl", "summaries.jsonl", "dead-letters.jsonl"]:
        compare(work / "out" / name, f"benchmark-zone/{name}")


BENCHMARK = "pilotzone.pipelines.benchmark"
GWANGJU = Path(__file__).resolve().parents[2] / "zones" / "configs" / "gwangju.yaml"
