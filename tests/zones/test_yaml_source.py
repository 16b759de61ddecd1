"""YAML sources: YAML 1.2 scalars, the line of each field, readable field paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pilotzone.zones.problems import ConfigProblem
from pilotzone.zones.yaml_source import (
    YamlDocument,
    describe_path,
    duplicate_key_problems,
    read_yaml_document,
)

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
