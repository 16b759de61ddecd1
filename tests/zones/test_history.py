"""Config history: dated zone versions, the checks on loading them, and their epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pilotzone.zones import ConfigProblem, ZoneConfigError, load_zone, load_zones
from pilotzone.zones.history import BEGINNING_MS, END_MS, history_of, time_ms
from pilotzone.zones.limits import MAX_VERSIONS_PER_ZONE
from tests.zones import geometries as g

pytestmark = pytest.mark.fences

MARCH = "2026-03-01T00:00:00+09:00"
APRIL = "2026-04-01T00:00:00+09:00"
MAY = "2026-05-01T00:00:00+09:00"
MARCH_MS = 1772290800000
APRIL_MS = 1774969200000


def version(
    folder: Path, file_name: str, effective_from: str | None, until: str | None, **changes: Any
) -> Path:
    config = g.base_config() | changes
    if effective_from is not None:
        config["effective_from"] = effective_from
    if until is not None:
        config["until"] = until
    folder.mkdir(exist_ok=True)
    return g.write_yaml(folder / file_name, config)


def problems_of(paths: list[Path]) -> list[tuple[str, str, str]]:
    with pytest.raises(ZoneConfigError) as caught:
        load_zones(paths)
    return [(Path(p.file).name, p.location, p.message) for p in caught.value.problems]


def test_dates_are_rfc3339_instants_in_ms() -> None:
    import datetime as dt

    assert time_ms(dt.datetime.fromisoformat(MARCH)) == MARCH_MS
    assert time_ms(dt.datetime.fromisoformat(APRIL)) == APRIL_MS


def test_a_folder_of_dated_versions_is_one_zone_history(tmp_path: Path) -> None:
    folder = tmp_path / "testzone"
    version(folder, "1-march.yaml", MARCH, APRIL)
    version(folder, "2-april.yaml", APRIL, None, name="Test zone, April rules")
    march, april = load_zones([folder])

    history = history_of([march, april])
    assert history.zone_ids == ("testzone",)
    assert [(e.start_ms, e.end_ms, e.zones) for e in history.epochs] == [
        (BEGINNING_MS, MARCH_MS, ()),
        (MARCH_MS, APRIL_MS, (march,)),
        (APRIL_MS, END_MS, (april,)),
    ]
    times = np.array([MARCH_MS - 1, MARCH_MS, APRIL_MS - 1, APRIL_MS], dtype=np.int64)
    assert history.epoch_index(times).tolist() == [0, 1, 1, 2]
    assert history.zones_at(APRIL_MS) == (april,)
    assert history.changes


def test_undated_configs_are_one_epoch_in_force_always(tmp_path: Path) -> None:
    zone = load_zone(g.write_yaml(tmp_path / "zone.yaml", g.base_config()))
    history = history_of([zone])
    assert [(e.start_ms, e.end_ms, e.zones) for e in history.epochs] == [(BEGINNING_MS, END_MS, (zone,))]
    assert not history.changes


def test_dates_enter_the_version_hash_only_when_given(tmp_path: Path) -> None:
    undated = load_zone(g.write_yaml(tmp_path / "undated.yaml", g.base_config()))
    # The hash of an undated config is what it was before dates existed (the golden outputs
    # pin the shipped ones); here: the same as the identical config written again.
    again = load_zone(g.write_yaml(tmp_path / "again.yaml", g.base_config()))
    march = load_zone(version(tmp_path, "march.yaml", MARCH, APRIL))
    april = load_zone(version(tmp_path, "april.yaml", APRIL, None))
    assert undated.version == again.version
    assert len({undated.version, march.version, april.version}) == 3


def test_overlap_gap_and_open_end_are_refused_with_the_fix(tmp_path: Path) -> None:
    overlap = tmp_path / "overlap"
    version(overlap, "a.yaml", MARCH, MAY)
    version(overlap, "b.yaml", APRIL, None)
    assert problems_of([overlap]) == [
        (
            "a.yaml",
            "until",
            "zone 'testzone': this version runs until 2026-04-30T15:00:00Z, overlapping the version from "
            f"2026-03-31T15:00:00Z in {overlap / 'b.yaml'}: two sets of rules at once; make until equal the next "
            "version's effective_from",
        )
    ]

    gap = tmp_path / "gap"
    version(gap, "a.yaml", MARCH, APRIL)
    version(gap, "b.yaml", MAY, None)
    assert problems_of([gap]) == [
        (
            "a.yaml",
            "until",
            f"zone 'testzone': this version ends at 2026-03-31T15:00:00Z but the next ({gap / 'b.yaml'}) starts at "
            "2026-04-30T15:00:00Z, leaving a time with no rules; make until equal the next version's effective_from",
        )
    ]

    open_ended = tmp_path / "open"
    version(open_ended, "a.yaml", MARCH, None)
    version(open_ended, "b.yaml", APRIL, None)
    assert problems_of([open_ended]) == [
        (
            "a.yaml",
            "until",
            "zone 'testzone': this version has no until, so it overlaps the version from 2026-03-31T15:00:00Z in "
            f"{open_ended / 'b.yaml'}: set until: to that version's effective_from",
        )
    ]


def test_an_undated_config_cannot_share_its_id_with_versions(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    version(folder, "a.yaml", MARCH, None)
    version(folder, "b.yaml", None, None)
    assert problems_of([folder]) == [
        (
            "b.yaml",
            "zone_id",
            f"zone_id 'testzone' is also used by {folder / 'a.yaml'}: every zone needs its own id, or, for "
            "versions of one zone, give each an effective_from (and each but the last an until)",
        )
    ]


def test_only_the_first_version_may_lack_effective_from(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    version(folder, "a.yaml", None, MARCH)
    version(folder, "b.yaml", MARCH, None)
    first, second = load_zones([folder])
    assert [(e.start_ms, e.end_ms, e.zones) for e in history_of([first, second]).epochs] == [
        (BEGINNING_MS, MARCH_MS, (first,)),
        (MARCH_MS, END_MS, (second,)),
    ]
    version(folder, "c.yaml", None, APRIL)
    assert ("c.yaml", "effective_from") in [(p[0], p[1]) for p in problems_of([folder])]


def test_until_must_follow_effective_from(tmp_path: Path) -> None:
    path = version(tmp_path, "zone.yaml", APRIL, MARCH)
    assert problems_of([path]) == [
        (
            "zone.yaml",
            "until",
            "until (2026-03-01T00:00:00+09:00) must be later than effective_from "
            "(2026-04-01T00:00:00+09:00): a version in force for no time at all is a typo",
        )
    ]


def test_dates_need_an_offset(tmp_path: Path) -> None:
    path = version(tmp_path, "zone.yaml", "2026-03-01T00:00:00", None)
    [(file, location, message)] = problems_of([path])
    assert (file, location) == ("zone.yaml", "effective_from")
    assert "timezone" in message


def test_versions_per_zone_are_capped(tmp_path: Path) -> None:
    import datetime as dt

    folder = tmp_path / "many"
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    count = MAX_VERSIONS_PER_ZONE + 1
    for day in range(count):
        begin = (start + dt.timedelta(days=day)).isoformat()
        end = (start + dt.timedelta(days=day + 1)).isoformat() if day < count - 1 else None
        version(folder, f"v{day:03d}.yaml", begin, end)
    assert problems_of([folder]) == [
        (
            f"v{MAX_VERSIONS_PER_ZONE:03d}.yaml",
            "zone_id",
            f"zone 'testzone' has {count} versions, more than the {MAX_VERSIONS_PER_ZONE} a history may hold: "
            "load only the versions the time span you judge needs",
        )
    ]


def test_problem_type_is_the_usual_one(tmp_path: Path) -> None:
    folder = tmp_path / "gap"
    version(folder, "a.yaml", MARCH, APRIL)
    version(folder, "b.yaml", MAY, None)
    with pytest.raises(ZoneConfigError) as caught:
        load_zones([folder])
    assert all(isinstance(p, ConfigProblem) for p in caught.value.problems)
    assert str(caught.value).startswith(f"{folder / 'a.yaml'}: until: zone 'testzone'")
