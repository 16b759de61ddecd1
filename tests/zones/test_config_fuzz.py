"""Fuzzing the loader: mutated zone configs load or give config problems, never another exception.

The mutations are the ones that found real crashes by hand (aliases, tags, brackets, NUL,
huge numbers, cut and pasted spans) applied to the every-kind test zone. The suite runs a
bounded budget; set ``PILOTZONE_FUZZ_EXAMPLES`` (for example 20000) for a longer run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.zones import ZoneConfigError, load_zones
from tests.pipelines.fleets import EVERY_KIND_ZONE
from tests.zones.deadline import deadline

SEED = EVERY_KIND_ZONE.read_text(encoding="utf-8")
TOKENS = [
    "&a ", "*a", "!!int ", "!!float ", "!!bool ", "!!binary ", "!!set ", "!!omap ", "!!timestamp ", "<<: *a",
    "[", "]", "{", "}", "\0", "\t", ": ", "- ", "? ", "'", '"', "~", "null", "1e999", "-1", "nan", ".inf",
    "0x" + "f" * 5000, "9" * 5000, "\n  ", "#", "|\n", "\ufeff", "%YAML 1.1\n", "---\n", "...\n",
    "2025-01-01", "24:00", "localtime", "/dev/zero", "../../../../etc/passwd", "file: ", "where: ",
]  # fmt: skip
EXAMPLES = int(os.environ.get("PILOTZONE_FUZZ_EXAMPLES", "150"))

mutation = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(TOKENS)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 40)),
    st.tuples(st.just("paste"), st.floats(0, 1), st.tuples(st.floats(0, 1), st.integers(1, 200))),
)


def mutate(text: str, mutations: list[tuple[str, float, object]]) -> str:
    for operation, where, argument in mutations:
        at = int(where * len(text))
        if operation == "insert":
            text = text[:at] + str(argument) + text[at:]
        elif operation == "delete":
            assert isinstance(argument, int)
            text = text[:at] + text[at + argument :]
        else:
            assert isinstance(argument, tuple)
            start = int(argument[0] * len(text))
            text = text[:at] + text[start : start + argument[1]] + text[at:]
    return text


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "configs" / "zone.yaml"


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(mutation, min_size=1, max_size=6))
def test_a_mutated_config_loads_or_gives_config_problems(
    config_path: Path, mutations: list[tuple[str, float, object]]
) -> None:
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_bytes(mutate(SEED, mutations).encode("utf-8", "replace"))
    with deadline(60):
        try:
            zones = load_zones([config_path])
        except ZoneConfigError as error:
            assert error.problems
            assert all(problem.file and problem.message for problem in error.problems)
        else:
            assert [zone.source for zone in zones] == [config_path]
