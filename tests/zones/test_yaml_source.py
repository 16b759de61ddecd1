"""YAML sources: YAML 1.2 scalars, the line of each field, readable field paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pilotzone.zones.limits import MAX_YAML_DEPTH, MAX_YAML_NODES
from pilotzone.zones.problems import ConfigProblem
from pilotzone.zones.yaml_source import (
    YamlDocument,
    describe_path,
    duplicate_key_problems,
    read_yaml_document,
)
from tests.zones.deadline import deadline, timed

CONFIG = """\
zone_id: z
rules:
  - id: night
    kind: operating_hours
    start: 22:00
    enabled: no
  - id: fast
    limit_kmh: 30
    limit_kmh: 40
"""


def document(tmp_path: Path, text: str = CONFIG) -> YamlDocument:
    path = tmp_path / "zone.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    parsed = read_yaml_document(path)
    assert isinstance(parsed, YamlDocument)
    return parsed


def test_clock_times_and_yes_no_stay_text(tmp_path: Path) -> None:
    night = document(tmp_path).value_at(["rules", 0])
    assert (night["start"], night["enabled"]) == ("22:00", "no")


def test_problems_name_the_line_and_the_item_by_id(tmp_path: Path) -> None:
    parsed = document(tmp_path)
    assert parsed.problem(["rules", 1, "limit_kmh"], "too fast") == ConfigProblem(
        str(parsed.path), "rules[1] (fast).limit_kmh", "too fast", 8
    )
    # A missing field points at the mapping it is missing from.
    assert parsed.problem(["rules", 0, "days"], "missing").line == 3


def test_duplicate_keys_are_reported_with_both_lines(tmp_path: Path) -> None:
    (problem,) = duplicate_key_problems(document(tmp_path))
    assert (problem.location, problem.line) == ("rules[1] (fast).limit_kmh", 9)
    assert problem.message == (
        "key 'limit_kmh' appears twice (first on line 8): YAML keeps only the last one, delete one of them"
    )


def test_syntax_errors_carry_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("zone_id: [z\n", encoding="utf-8")
    problem = read_yaml_document(path)
    assert isinstance(problem, ConfigProblem)
    assert (problem.location, problem.line) == ("line 2, column 1", 2)
    assert problem.message.startswith("YAML syntax error: ")


def test_describe_path_outside_the_data_still_reads() -> None:
    assert describe_path(["rules", 5, "kind"], {"rules": []}) == "rules[5].kind"


# --- bounds ----------------------------------------------------------------------------------


def _read(tmp_path: Path, text: str) -> YamlDocument | ConfigProblem:
    path = tmp_path / "zone.yaml"
    path.write_text(text, encoding="utf-8")
    return read_yaml_document(path)


def test_nesting_up_to_the_bound_is_read_and_one_more_level_is_refused(tmp_path: Path) -> None:
    deepest = _read(tmp_path, "[" * MAX_YAML_DEPTH + "]" * MAX_YAML_DEPTH + "\n")
    assert isinstance(deepest, YamlDocument)

    too_deep = _read(tmp_path, "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1) + "\n")
    assert too_deep == ConfigProblem(
        str(tmp_path / "zone.yaml"),
        f"line 1, column {MAX_YAML_DEPTH + 1}",
        "values nested more than 64 levels deep: a zone config needs about 8; check for unclosed or runaway brackets",
        1,
    )


def test_aliases_within_the_bound_are_ordinary_yaml(tmp_path: Path) -> None:
    parsed = _read(
        tmp_path,
        "hours: &school [{start: '07:00', end: '09:00'}]\n"
        "base: &base {limit_kmh: 30}\n"
        "rules:\n  - {<<: *base, schedule: *school}\n  - {<<: *base, schedule: *school}\n",
    )
    assert isinstance(parsed, YamlDocument)
    assert parsed.data["rules"] == [{"limit_kmh": 30, "schedule": [{"start": "07:00", "end": "09:00"}]}] * 2


def test_expanded_values_are_counted_with_every_alias_use_as_a_copy(tmp_path: Path) -> None:
    # A list of 999 values used through aliases: the document expands to 1 + (1 + 999) + uses * 1000.
    anchor = "a: &a [" + ", ".join(["1"] * 999) + "]\n"
    uses = (MAX_YAML_NODES - 1001 - 2) // 1001  # each "- *a" adds the key-less list item's 1,000 values
    fits = anchor + "b:\n" + "  - *a\n" * uses
    parsed = _read(tmp_path, fits)
    assert isinstance(parsed, YamlDocument)

    refused = _read(tmp_path, fits + "  - *a\n" * 2)
    assert isinstance(refused, ConfigProblem)
    assert refused.message.startswith(
        "the document expands to more than 500,000 values (aliases counted as copies)"
    )


def test_the_billion_laughs_are_refused_in_milliseconds(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    with deadline(60), timed() as elapsed:
        refused = _read(tmp_path, "\n".join(lines) + "\n")
    assert isinstance(refused, ConfigProblem)
    assert refused.line == 6
    assert elapsed[0] < 1


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    refused = _read(tmp_path, "a: &a {b: *a}\n")
    assert refused == ConfigProblem(
        str(tmp_path / "zone.yaml"),
        "line 1, column 11",
        "alias *a refers to a collection that contains it: a config cannot be recursive, write the values out",
        1,
    )


def test_integers_are_read_up_to_64_bits(tmp_path: Path) -> None:
    parsed = _read(tmp_path, f"a: {2**63 - 1}\nb: {-(2**63)}\n")
    assert isinstance(parsed, YamlDocument) and parsed.data == {"a": 2**63 - 1, "b": -(2**63)}

    refused = _read(tmp_path, f"a: 1\nb: {2**63}\n")
    assert refused == ConfigProblem(
        str(tmp_path / "zone.yaml"),
        "line 2, column 4",
        "integer out of range: no zone config value needs more than 64 bits; fix the number",
        2,
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [("!!bool maybe", "bool"), ("!!float x", "float"), ("!!int x", "int"), ("!!timestamp x", "timestamp")],
)
def test_a_tag_its_value_does_not_fit_is_a_problem_at_its_line(tmp_path: Path, text: str, kind: str) -> None:
    assert _read(tmp_path, f"a: 1\nb: {text}\n") == ConfigProblem(
        str(tmp_path / "zone.yaml"),
        "line 2, column 4",
        f"this value cannot be read as {kind}: write a plain {kind} of sensible size, or quote it as text",
        2,
    )
