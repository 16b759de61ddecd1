"""Zones pickle content-addressed: one live zone per content and process, rebuilt only on a miss."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import weakref
from pathlib import Path

import shapely
import shapely.geometry
from apache_beam.internal import pickler

from pilotzone.zones import Zone, compile_zone, load_zone
from pilotzone.zones.zone import pickled_state, restore_zone
from tests.zones import geometries as g


def _load(tmp_path: Path, name: str = "zone.yaml", speed_kmh: int | None = None) -> Zone:
    config = g.base_config()
    if speed_kmh is not None:
        config["rules"][0]["limit_kmh"] = speed_kmh
    return load_zone(g.write_yaml(tmp_path / name, config))


def test_unpickling_in_the_same_process_returns_the_live_zone(tmp_path: Path) -> None:
    zone = _load(tmp_path)
    assert pickle.loads(pickle.dumps(zone)) is zone
    # Beam's own pickler (cloudpickle, bz2) as it carries a zone inside a DoFn.
    fn = {"zones": [zone], "window_s": 60}
    assert pickler.loads(pickler.dumps(fn))["zones"][0] is zone
    assert pickler.loads(pickler.dumps(fn))["zones"][0] is zone
    # The lookups prepared per zone are therefore shared by every stage in a process.
    assert compile_zone(pickle.loads(pickle.dumps(zone))) is compile_zone(zone)


def test_the_digest_names_the_content(tmp_path: Path) -> None:
    zone = _load(tmp_path)
    digest, state = pickled_state(zone)
    assert digest.startswith(zone.version + "/")
    assert pickled_state(zone) == (digest, state)  # computed once per zone
    # Another load of the same file is equal content: the same digest.
    again = load_zone(tmp_path / "zone.yaml")
    assert again is not zone
    assert pickled_state(again)[0] == digest


def test_a_changed_config_is_another_zone(tmp_path: Path) -> None:
    zone = _load(tmp_path)
    changed = _load(tmp_path, "changed.yaml", speed_kmh=45)
    assert changed.version != zone.version
    assert pickled_state(changed)[0] != pickled_state(zone)[0]
    restored = pickle.loads(pickle.dumps(changed))
    assert restored is changed
    assert pickle.loads(pickle.dumps(zone)) is zone
    assert [getattr(rule, "limit_kmh", None) for rule in restored.rules[:2]] == [45, 40]
    assert [getattr(rule, "limit_kmh", None) for rule in zone.rules[:2]] == [50, 40]
    # The same file path, rewritten: the content decides, not the path.
    rewritten = _load(tmp_path, "zone.yaml", speed_kmh=55)
    assert pickled_state(rewritten)[0] != pickled_state(zone)[0]
    assert pickle.loads(pickle.dumps(rewritten)) is rewritten


def test_a_zone_no_longer_alive_is_rebuilt_from_its_bytes(tmp_path: Path) -> None:
    zone = _load(tmp_path)
    data = pickle.dumps(zone)
    version, areas, rules = zone.version, list(zone.areas), [rule.id for rule in zone.rules]
    gone = weakref.ref(zone)
    del zone
    gc.collect()
    assert gone() is None  # the registry holds zones weakly
    rebuilt = pickle.loads(data)
    assert (rebuilt.version, list(rebuilt.areas), [rule.id for rule in rebuilt.rules]) == (
        version,
        areas,
        rules,
    )
    assert rebuilt.areas["school"].geometry.equals(shapely.geometry.shape(g.SCHOOL))
    assert pickle.loads(data) is rebuilt


def test_restore_zone_rebuilds_on_a_miss(tmp_path: Path) -> None:
    zone = _load(tmp_path)
    digest, state = pickled_state(zone)
    other = restore_zone("sha256:0000000000000000/unknown", state)
    assert other is not zone
    assert other.version == zone.version
    assert restore_zone(digest, state) is zone


def test_a_fresh_process_unpickles_without_the_registry(tmp_path: Path) -> None:
    zone = _load(tmp_path)
    pickled = tmp_path / "zone.pickle"
    pickled.write_bytes(pickle.dumps([zone, zone]))
    (tmp_path / "zone.yaml").unlink()  # the bytes stand alone: the source file is not read again
    script = (
        "import pickle, sys\n"
        "first, second = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(first is second, first.zone_id, first.version, len(first.areas), first.source.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(pickled)], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["True", "testzone", zone.version, "5", "zone.yaml"]
