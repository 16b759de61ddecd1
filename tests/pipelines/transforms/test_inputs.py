"""``--input`` globs as a user means them, and a clear error when one matches nothing."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.transforms.inputs import (
    InputPatternError,
    ReadInputs,
    match_inputs,
    pattern_variants,
)


@pytest.mark.parametrize(
    ("pattern", "variants"),
    [
        ("dir/**/*.avro", ["dir/**.avro"]),
        ("/data/**/*", ["/data/**"]),
        ("dir/**/veh-*.avro", ["dir/**/veh-*.avro", "dir/veh-*.avro"]),
        ("a/**/b/**/c.avro", ["a/**/b/**/c.avro", "a/**/b/c.avro", "a/b/**/c.avro", "a/b/c.avro"]),
        ("dir/*/x.avro", ["dir/*/x.avro"]),
        ("dir/x**/y", ["dir/x**/y"]),
        ("dir/**/**/veh-*.avro", ["dir/**/veh-*.avro", "dir/veh-*.avro"]),
        ("**/*.avro", ["./**.avro"]),
        ("*.avro", ["./*.avro"]),
        ("gs://bucket/**/*.avro", ["gs://bucket/**.avro"]),
    ],
)
def test_pattern_variants(pattern: str, variants: list[str]) -> None:
    assert pattern_variants(pattern) == variants


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    for name in ["top.avro", "veh-top.avro", "day1/a.avro", "day1/veh-1.avro", "day1/deep/veh-2.avro",
                 "notes.txt"]:  # fmt: skip
        (tmp_path / "up" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "up" / name).write_bytes(name.encode())
    (tmp_path / "up" / "empty").mkdir()
    return tmp_path / "up"


def test_double_star_matches_files_directly_in_the_folder_too(uploads: Path) -> None:
    def names(pattern: str) -> list[str]:
        return [Path(m.path).relative_to(uploads).as_posix() for m in match_inputs(str(uploads / pattern))]

    assert names("**/*.avro") == ["day1/a.avro", "day1/deep/veh-2.avro", "day1/veh-1.avro", "top.avro",
                                  "veh-top.avro"]  # fmt: skip
    assert names("**/veh-*.avro") == ["day1/deep/veh-2.avro", "day1/veh-1.avro", "veh-top.avro"]
    assert names("*.avro") == ["top.avro", "veh-top.avro"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("empty/**/*.avro", "matches no file: check the folder and the pattern"),
        ("missing/*.avro", "matches no file"),
        ("day1", "is a folder: give the files, e.g. '{up}/day1/**/*.avro'"),
    ],
)
def test_a_pattern_without_files_is_a_clear_error(uploads: Path, pattern: str, message: str) -> None:
    with pytest.raises(InputPatternError, match=r"^--input ") as refused:
        match_inputs(str(uploads / pattern))
    assert message.format(up=uploads) in str(refused.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("**/veh-*.avro", ["day1/deep/veh-2.avro", "day1/veh-1.avro", "veh-top.avro"]),
        ("**/**/veh-*.avro", ["day1/deep/veh-2.avro", "day1/veh-1.avro", "veh-top.avro"]),
        # day1/deep/veh-2.avro matches two of the variants (d* = day1 or deep): read once.
        ("**/d*/**/veh-*.avro", ["day1/deep/veh-2.avro", "day1/veh-1.avro"]),
    ],
)
def test_read_inputs_reads_each_matched_file_once(uploads: Path, pattern: str, expected: list[str]) -> None:
    with TestPipeline(runner="FnApiRunner") as pipeline:
        read = pipeline | ReadInputs(str(uploads / pattern))
        contents = read | beam.MapTuple(lambda path, data: (Path(path).relative_to(uploads).as_posix(), data))
        assert_that(contents, equal_to([(name, name.encode()) for name in expected]))
