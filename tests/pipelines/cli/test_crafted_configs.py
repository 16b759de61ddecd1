"""Crafted zone configs from the regression corpus: run, simulate and stream exit 2 with the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotzone.pipelines.cli import main
from tests.zones.deadline import deadline
from tests.zones.test_crafted_configs import CORPUS


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("alias-bomb.yaml", "a YAML alias bomb"),
        ("deep-nesting.yaml", "values nested more than 64 levels deep"),
        ("geometry-proc-environ.yaml", "geometry file /proc/self/environ refused"),
        ("timezone-localtime.yaml", "unknown IANA timezone 'localtime'"),
        ("geometry-etc-passwd.yaml", "geometry file /etc/passwd refused"),
    ],
)
def test_the_commands_exit_2_for_crafted_configs(
    name: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(CORPUS / name)
    with deadline(120):
        run = main(
            [
                "run",
                "--zones",
                config,
                "--input",
                str(tmp_path / "*.avro"),
                "--incidents",
                str(tmp_path / "i.jsonl"),
                "--quiet",
            ]
        )
        run_err = capsys.readouterr().err
        simulate = main(
            [
                "simulate",
                "--zones",
                config,
                "--vehicles",
                "1",
                "--duration",
                "10",
                "--rate",
                "1",
                "--seed",
                "1",
                "--out",
                str(tmp_path / "sim"),
                "--quiet",
            ]
        )
        simulate_err = capsys.readouterr().err
        stream = main(
            [
                "stream",
                "--zones",
                config,
                "--source",
                "folder",
                "--incidents-dir",
                str(tmp_path / "live"),
                "--quiet",
            ]
        )
        stream_err = capsys.readouterr().err

    assert (run, simulate, stream) == (2, 2, 2)
    for err in (run_err, simulate_err, stream_err):
        assert f"{config}:" in err and says in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_every_command_that_loads_zones_takes_a_geometry_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /etc/passwd under the root "/" is read, and refused as not JSON, without quoting it.
    config = str(CORPUS / "geometry-etc-passwd.yaml")
    root = ["--geometry-root", "/"]
    commands = [
        ["zones", "check", config, *root],
        ["run", "--zones", config, *root, "--input", str(tmp_path / "*.avro"), "--incidents", str(tmp_path / "i")],
        ["simulate", "--zones", config, *root, "--vehicles", "1", "--duration", "10", "--rate", "1", "--seed", "1",
         "--out", str(tmp_path / "sim")],
        ["stream", "--zones", config, *root, "--source", "folder", "--incidents-dir", str(tmp_path / "live")],
    ]  # fmt: skip
    for command in commands:
        status = main([*command, "--quiet"] if command[0] != "zones" else command)
        captured = capsys.readouterr()
        said = captured.out + captured.err
        assert status == (1 if command[0] == "zones" else 2), command
        assert "/etc/passwd: line 1, column 1: not valid JSON: Expecting value" in said, command
        assert "root:" not in said and "lies outside" not in said
