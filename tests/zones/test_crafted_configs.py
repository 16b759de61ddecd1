"""The regression corpus of crafted zone configs: each is refused fast with its own clear problem.

``tests/corpus/configs/README.md`` says what each file is; the files that cannot live in a
repository (a FIFO, an oversize file, a symlink out of the tree) are made in
``test_config_files.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotzone.zones import ConfigProblem, ZoneConfigError, load_zones
from pilotzone.zones.limits import MAX_TIE_WARNINGS
from tests.zones.deadline import deadline, timed

CORPUS = Path(__file__).parents[1] / "corpus" / "configs"

TZ_ONLY_IANA = (
    "use a name such as 'Asia/Seoul' (names of the IANA tz database only: host-specific names such as "
    "'localtime', file paths and offsets such as 'UTC+9' would make schedules follow the machine, not the config)"
)
OUTSIDE_ROOT = f"it lies outside {CORPUS.parent} (the folder holding the config's folder)"

# file -> (line, location, what the message says); every refusal is one problem.
EXPECTED: dict[str, tuple[int | None, str, str]] = {
    "alias-bomb.yaml": (
        6,
        "line 6, column 26",
        "the document expands to more than 500,000 values (aliases counted as copies): a YAML alias bomb",
    ),
    "alias-recursive.yaml": (2, "line 2, column 16", "alias *rules refers to a collection that contains it"),
    # libyaml scans ahead and meets its own bound (1,000 levels) first; the message is ours.
    "deep-nesting.yaml": (1, "line 1, column 1009", "values nested more than 64 levels deep"),
    "geometry-dev-zero.yaml": (5, "boundary.file", f"geometry file /dev/zero refused: {OUTSIDE_ROOT}"),
    "geometry-etc-passwd.yaml": (5, "boundary.file", f"geometry file /etc/passwd refused: {OUTSIDE_ROOT}"),
    "geometry-proc-environ.yaml": (
        5,
        "boundary.file",
        f"geometry file /proc/self/environ refused: {OUTSIDE_ROOT} (it resolves to /proc/",
    ),
    "geometry-traversal.yaml": (5, "boundary.file", f"refused: {OUTSIDE_ROOT} (it resolves to /etc/passwd)"),
    "geometry-nul-path.yaml": (
        5,
        "boundary.file",
        "the path contains a control character (such as NUL or a newline): write it as plain text",
    ),
    "geometry-folder.yaml": (
        5,
        "boundary.file",
        f"geometry file {CORPUS}/../configs refused: it is a folder, not a regular file",
    ),
    "geometry-deep-nesting.yaml": (
        None,
        "",
        "not a GeoJSON file: values nested more than 32 levels deep (a FeatureCollection of MultiPolygons needs 8)",
    ),
    "geometry-foreign-json.yaml": (
        None,
        "",
        "not a GeoJSON file: features[0] is not a Feature (type: Feature, a geometry object or null, properties "
        "a mapping or null); nothing is read from it",
    ),
    "yaml-huge-integer.yaml": (
        10,
        "line 10, column 15",
        "this value cannot be read as int: write a plain int of sensible size, or quote it as text",
    ),
    "yaml-wide-integer.yaml": (
        10,
        "line 10, column 15",
        "integer out of range: no zone config value needs more than 64 bits; fix the number",
    ),
    "yaml-bad-tag.yaml": (
        10,
        "line 10, column 15",
        "this value cannot be read as int: write a plain int of sensible size, or quote it as text",
    ),
    "yaml-bad-timestamp.yaml": (
        10,
        "line 10, column 12",
        "this value cannot be read as timestamp: write a plain timestamp of sensible size, or quote it as text",
    ),
    "geometry-huge-number.yaml": (
        None,
        "",
        "not valid GeoJSON: a number too long to read; nothing is read from it",
    ),
    "tied-rules-10000.yaml": (
        8,
        "rules",
        "10001 rules, but a zone config may have at most 2000: split the zone into several configs",
    ),
    "timezone-localtime.yaml": (4, "timezone", f"unknown IANA timezone 'localtime': {TZ_ONLY_IANA}"),
    "timezone-utc-offset.yaml": (4, "timezone", f"unknown IANA timezone 'UTC+9': {TZ_ONLY_IANA}"),
    "timezone-path.yaml": (4, "timezone", f"unknown IANA timezone '/etc/localtime': {TZ_ONLY_IANA}"),
    "timezone-posix-copy.yaml": (4, "timezone", f"unknown IANA timezone 'posix/Asia/Seoul': {TZ_ONLY_IANA}"),
}
LOADS_WITH_WARNINGS = {"tied-rules-1999.yaml"}
TIME_BOUND_S = 30.0
"""Each file is refused (or loaded) well within this, even on a loaded 2-core machine: the
slowest, 10,000 rules in 560 kB of YAML, takes 1-3 s, nearly all of it YAML composition
(which ``MAX_CONFIG_BYTES`` bounds). Before the bounds the 342-byte alias bomb alone took 96 s
of CPU and the tied rules minutes and gigabytes."""


def _refusal(path: Path) -> tuple[list[ConfigProblem], float]:
    with deadline(120), timed() as elapsed, pytest.raises(ZoneConfigError) as caught:
        load_zones([path])
    return caught.value.problems, elapsed[0]


def test_every_corpus_config_has_an_expected_outcome() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted({*EXPECTED, *LOADS_WITH_WARNINGS})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crafted_config_is_refused_fast_with_a_clear_problem(name: str) -> None:
    path = CORPUS / name
    problems, elapsed = _refusal(path)

    line, location, message = EXPECTED[name]
    assert len(problems) == 1, problems
    (problem,) = problems
    expected_file = {
        "geometry-foreign-json.yaml": str(CORPUS / "foreign.json"),
        "geometry-deep-nesting.yaml": str(CORPUS / "deep.geojson"),
        "geometry-huge-number.yaml": str(CORPUS / "huge-number.geojson"),
    }.get(name, str(path))
    assert (problem.file, problem.line, problem.location) == (expected_file, line, location)
    assert message in problem.message
    assert elapsed < TIME_BOUND_S


def test_values_of_a_foreign_json_file_are_never_quoted() -> None:
    problems, _ = _refusal(CORPUS / "geometry-foreign-json.yaml")
    text = "\n".join(str(p) for p in problems)
    for secret in ("s3cret-token-value", "operator-admin", "second-s3cret", "token", "user"):
        assert secret not in text


def test_two_thousand_tied_rules_load_fast_with_the_ties_summarised() -> None:
    with deadline(120), timed() as elapsed:
        (zone,) = load_zones([CORPUS / "tied-rules-1999.yaml"])

    assert elapsed[0] < TIME_BOUND_S
    assert len(zone.rules) == 2000
    assert len(zone.warnings) == MAX_TIE_WARNINGS + 1
    assert zone.warnings[0] == (
        "speed_limit rules 'speed-00000' and 'speed-00001' both apply zone-wide to the same vehicles at overlapping "
        "times with equal priority, so only rule-id order makes 'speed-00000' win: give one an explicit priority or "
        "narrow its vehicle_classes or schedule"
    )
    # The listed pairs are those among the first rules by id, in id order.
    assert zone.warnings[MAX_TIE_WARNINGS - 1].startswith(
        "speed_limit rules 'speed-00004' and 'speed-00006' "
    )
    assert zone.warnings[-1] == (
        "1999 rules tie on precedence with another rule; only 20 of the tied pairs are listed: give tied rules "
        "explicit priorities or narrow their vehicle_classes or schedules"
    )


def test_ten_thousand_and_one_areas_are_refused_by_count_alone(tmp_path: Path) -> None:
    # Made here rather than kept in the corpus: 750 kB of areas that each name a missing file.
    path = tmp_path / "areas.yaml"
    text = (CORPUS / "timezone-localtime.yaml").read_text(encoding="utf-8")
    text = text.replace("timezone: localtime", "timezone: Asia/Seoul")
    areas = "".join(
        f"  - {{id: a{i:05d}, name: a, kind: other, geometry: {{file: missing.geojson}}}}\n"
        for i in range(10_001)
    )
    path.write_text(text + "areas:\n" + areas, encoding="utf-8")

    problems, elapsed = _refusal(path)
    assert [(p.location, p.message) for p in problems] == [
        (
            "areas",
            "10001 areas, but a zone config may have at most 10000: split the zone into several configs, or give "
            "rules with the same effect one scope",
        )
    ]
    assert elapsed < TIME_BOUND_S
