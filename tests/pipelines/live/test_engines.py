"""The engine cache is found where the install script puts it, and a gap names the script."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pilotzone.pipelines.live.engines import ENGINES_VARIABLE, Engines, EnginesMissingError, read_env_file


def fake_cache(root: Path, beam: str, kafka: str) -> None:
    """The install script's layout, with empty stand-ins for jars and executables."""
    (root / f"kafka-{kafka}" / "lib").mkdir(parents=True)
    (root / f"kafka-{kafka}" / "lib" / f"kafka_2.13-{kafka}.jar").touch()
    lib = root / f"beam-{beam}" / "expansion-service" / "lib"
    lib.mkdir(parents=True)
    (lib / f"beam-sdks-java-expansion-service-{beam}.jar").touch()
    bin_dir = root / f"beam-{beam}" / "bin"
    bin_dir.mkdir()
    for name in ("prism", "beam-java-worker"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    (root / "engines.env").write_text(
        f"# generated\nPILOTZONE_KAFKA_VERSION='{kafka}'\nPILOTZONE_BEAM_VERSION='{beam}'\n"
    )


def test_the_variable_moves_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINES_VARIABLE, str(tmp_path))
    assert Engines.locate().root == tmp_path


def test_without_the_variable_the_cache_is_in_the_home_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINES_VARIABLE, raising=False)
    assert Engines.locate().root == Path.home() / ".cache" / "pilotzone" / "engines"


def test_a_complete_cache_gives_every_path(tmp_path: Path) -> None:
    engines = Engines.locate(tmp_path)
    fake_cache(tmp_path, engines.beam_version, "9.9.9")
    engines = Engines.locate(tmp_path)
    assert engines.kafka_version == "9.9.9"
    assert engines.kafka_lib() == tmp_path / "kafka-9.9.9" / "lib"
    assert engines.expansion_lib() == tmp_path / f"beam-{engines.beam_version}" / "expansion-service" / "lib"
    assert engines.prism() == tmp_path / f"beam-{engines.beam_version}" / "bin" / "prism"
    assert engines.java_worker() == tmp_path / f"beam-{engines.beam_version}" / "bin" / "beam-java-worker"


def test_the_beam_version_is_the_python_sdks(tmp_path: Path) -> None:
    import apache_beam

    assert Engines.locate(tmp_path).beam_version == apache_beam.__version__


@pytest.mark.parametrize("accessor", ["kafka_lib", "expansion_lib", "prism", "java_worker"])
def test_a_missing_part_says_to_run_the_install_script(tmp_path: Path, accessor: str) -> None:
    engines = Engines.locate(tmp_path / "empty")
    with pytest.raises(EnginesMissingError, match=r"deploy/engines/install-engines\.sh"):
        getattr(engines, accessor)()


def test_problems_lists_every_missing_part(tmp_path: Path) -> None:
    problems = Engines.locate(tmp_path).problems()
    assert len([p for p in problems if "install-engines.sh" in p]) == len(problems) >= 4


def test_a_non_executable_binary_counts_as_missing(tmp_path: Path) -> None:
    engines = Engines.locate(tmp_path)
    fake_cache(tmp_path, engines.beam_version, "4.1.1")
    (engines.beam_dir / "bin" / "prism").chmod(0o644)
    if os.access(engines.beam_dir / "bin" / "prism", os.X_OK):
        pytest.skip("running as a user that may execute anything")
    with pytest.raises(EnginesMissingError, match="Prism"):
        engines.prism()


def test_env_file_lines_are_read_without_quotes(tmp_path: Path) -> None:
    path = tmp_path / "engines.env"
    path.write_text("# comment\nA='x y'\nB=\"z\"\nnot a line\n")
    assert read_env_file(path) == {"A": "x y", "B": "z"}
    assert read_env_file(tmp_path / "absent.env") == {}
