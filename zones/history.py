"""Config history: which version of each zone is in force at an event time.

A zone's rules change while vehicles drive. A config version may say when it takes effect
(``effective_from``, RFC 3339 with an offset) and when it stops (``until``, exclusive); a
config without either is in force always, as every config was before dates existed. Several
dated versions of one zone id, loaded together (several files given to ``--zones``, or a
folder such as ``zones/history/<zone>/`` holding one YAML file per version), form that zone's
history.

Loading refuses a history that leaves a moment without rules or with two sets of rules:
versions sorted by ``effective_from`` must follow each other exactly (each ``until`` is the
next ``effective_from``); only the last may be open-ended, and only the first may lack
``effective_from`` (then it is in force from the beginning of time). Before the first
``effective_from`` and from the last ``until`` on, the zone does not exist: its samples are
judged as those of any place outside every zone.

The monitor judges a sample by the versions in force at its event time, so a replay given
the same history gives the same incidents wherever and whenever it runs. ``ZoneHistory``
cuts time into *epochs*, the intervals between all the zones' change times, each with the
tuple of zone versions in force during it (zones in the order they first appear in the
list, as for undated configs). A list of undated configs is one epoch holding that list, so
everything built for one list of zones works unchanged for it.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pilotzone.zones.limits import MAX_VERSIONS_PER_ZONE
from pilotzone.zones.problems import ConfigProblem
from pilotzone.zones.zone import Zone

BEGINNING_MS = -(2**62)
"""The start of the first epoch: before any event time."""

END_MS = 2**62
"""The end of the last epoch: after any event time (and after a replay's end of input)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def time_ms(moment: dt.datetime) -> int:
    """An aware datetime as integer milliseconds since 1970 (exact: no float rounding)."""
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def effective_span(zone: Zone) -> tuple[int, int]:
    """[start, end) of the zone version's validity in ms; undated ends are the epoch bounds."""
    config = zone.config
    start = BEGINNING_MS if config.effective_from is None else time_ms(config.effective_from)
    end = END_MS if config.until is None else time_ms(config.until)
    return start, end


def is_dated(zone: Zone) -> bool:
    """Whether the version says when it is in force (else it is in force always)."""
    return zone.config.effective_from is not None or zone.config.until is not None


@dataclass(frozen=True)
class Epoch:
    """An interval of event time [start_ms, end_ms) with the zone versions in force during it."""

    start_ms: int
    end_ms: int
    zones: tuple[Zone, ...]


class ZoneHistory:
    """The epochs of a list of zone versions (module docstring); built once, then only read.

    The list is expected to have passed ``history_problems`` (the loader checks it); the
    versions of one zone are then disjoint in time.
    """

    def __init__(self, zones: Sequence[Zone]) -> None:
        order: list[str] = []
        for zone in zones:
            if zone.zone_id not in order:
                order.append(zone.zone_id)
        spans = [(zone, *effective_span(zone)) for zone in zones]
        cuts = sorted({BEGINNING_MS, END_MS} | {t for _, start, end in spans for t in (start, end)})
        epochs: list[Epoch] = []
        for start, end in itertools.pairwise(cuts):
            in_force = {zone.zone_id: zone for zone, s, e in spans if s <= start < e}
            versions = tuple(in_force[zone_id] for zone_id in order if zone_id in in_force)
            if epochs and _same_versions(epochs[-1].zones, versions):
                epochs[-1] = Epoch(epochs[-1].start_ms, end, versions)
            else:
                epochs.append(Epoch(start, end, versions))
        self.zone_ids: tuple[str, ...] = tuple(order)
        self.epochs: tuple[Epoch, ...] = tuple(epochs)
        self._starts = np.array([epoch.start_ms for epoch in epochs], dtype=np.int64)

    @property
    def changes(self) -> bool:
        """Whether the rules change at some moment (more than one epoch)."""
        return len(self.epochs) > 1

    def epoch_index(self, times_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """The epoch of each event time (vectorised)."""
        return np.searchsorted(self._starts, times_ms, side="right") - 1

    def epoch_at(self, when_ms: int) -> int:
        """The epoch of one event time."""
        return int(np.searchsorted(self._starts, when_ms, side="right")) - 1

    def zones_at(self, when_ms: int) -> tuple[Zone, ...]:
        """The zone versions in force at ``when_ms``."""
        return self.epochs[self.epoch_at(when_ms)].zones


def _same_versions(a: tuple[Zone, ...], b: tuple[Zone, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


@functools.lru_cache(maxsize=32)
def _history(zones: tuple[Zone, ...]) -> ZoneHistory:
    return ZoneHistory(zones)


def history_of(zones: Sequence[Zone]) -> ZoneHistory:
    """The ``ZoneHistory`` of a list of zone versions, built once per list content.

    Zones hash by identity, so two loads of the same files are two histories; a pipeline
    loads its zones once, so this builds one history per worker.
    """
    return _history(tuple(zones))


def _when(moment: int) -> str:
    if moment in (BEGINNING_MS, END_MS):
        return "open-ended"
    seconds, millis = divmod(moment, 1000)
    text = (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{millis:03d}" if millis else "") + "Z"


def history_problems(zones: Sequence[Zone]) -> list[ConfigProblem]:
    """What makes a list of zone versions unusable as a history: a zone id used by several
    files of which one is undated, too many versions, overlaps and gaps (module docstring)."""
    by_id: dict[str, list[Zone]] = {}
    for zone in zones:
        by_id.setdefault(zone.zone_id, []).append(zone)
    problems: list[ConfigProblem] = []
    for zone_id, versions in by_id.items():
        if len(versions) == 1:
            continue
        if len(versions) > MAX_VERSIONS_PER_ZONE:
            problems.append(
                ConfigProblem(
                    str(versions[MAX_VERSIONS_PER_ZONE].source),
                    "zone_id",
                    f"zone {zone_id!r} has {len(versions)} versions, more than the {MAX_VERSIONS_PER_ZONE} a "
                    "history may hold: load only the versions the time span you judge needs",
                )
            )
            continue
        undated = [zone for zone in versions if not is_dated(zone)]
        if undated:
            others = ", ".join(str(zone.source) for zone in versions if zone is not undated[0])
            problems.extend(
                ConfigProblem(
                    str(zone.source),
                    "zone_id",
                    f"zone_id {zone_id!r} is also used by {others}: every zone needs its own id, or, for "
                    "several versions of one zone, give each an effective_from (and each but the last an until)",
                )
                for zone in undated
            )
            continue
        ordered = sorted(versions, key=lambda zone: (effective_span(zone), str(zone.source)))
        for earlier, later in itertools.pairwise(ordered):
            _, end = effective_span(earlier)
            start, _ = effective_span(later)
            if later.config.effective_from is None:
                problems.append(
                    ConfigProblem(
                        str(later.source),
                        "effective_from",
                        f"zone {zone_id!r} has several versions: every one but the first needs an effective_from "
                        f"(RFC 3339 with an offset, e.g. 2026-03-01T00:00:00+09:00)",
                    )
                )
            elif end == END_MS:
                problems.append(
                    ConfigProblem(
                        str(earlier.source),
                        "until",
                        f"zone {zone_id!r}: this version has no until, so it overlaps the version from "
                        f"{_when(start)} in {later.source}: set until: to that version's effective_from",
                    )
                )
            elif end > start:
                problems.append(
                    ConfigProblem(
                        str(earlier.source),
                        "until",
                        f"zone {zone_id!r}: this version runs until {_when(end)}, overlapping the version "
                        f"from {_when(start)} in {later.source}: two sets of rules at once; make until equal "
                        "the next version's effective_from",
                    )
                )
            elif end < start:
                problems.append(
                    ConfigProblem(
                        str(earlier.source),
                        "until",
                        f"zone {zone_id!r}: this version ends at {_when(end)} but the next ({later.source}) starts "
                        f"at {_when(start)}, leaving a time with no rules; make until equal the next version's "
                        "effective_from",
                    )
                )
    return problems


__all__ = [
    "BEGINNING_MS",
    "END_MS",
    "Epoch",
    "ZoneHistory",
    "effective_span",
    "history_of",
    "history_problems",
    "is_dated",
    "time_ms",
]
