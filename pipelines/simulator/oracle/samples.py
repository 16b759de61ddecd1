"""What every kind's oracle looks at: one track's sent samples, where and when each was.

Built once per track, so the area membership of each sample and the rule in force for each
(area set, schedule state) pair are worked out once and shared by all kinds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from pilotzone.pipelines.simulator.track import BoolArray, Finding, FloatArray, IntArray, Track
from pilotzone.pipelines.simulator.zone_model import ZoneModel
from pilotzone.zones.model import Rule


@dataclass
class Verdict:
    """A kind's findings in one track, and whether any run was too close to call.

    A run that lasts within a sample or so of its threshold is "ambiguous": one engine may
    count it and another not, so such a track is generated again.
    """

    findings: list[Finding]
    ambiguous: bool = False


@dataclass
class SentSamples:
    """The sent samples of one track as columns (``rows`` are their positions among all
    sample times), with each sample's schedule state and set of areas."""

    model: ZoneModel
    track: Track
    rows: IntArray
    vehicle_class: str
    lon: FloatArray
    lat: FloatArray
    t_ms: IntArray
    speed: FloatArray
    mode: npt.NDArray[np.int8]
    minute: IntArray
    """Index of each sample's minute in the window."""
    state: IntArray
    """Schedule state of each sample."""
    membership: BoolArray
    """(sample, area) whether the sample is in the area, areas in ``model.area_ids`` order."""
    set_of_row: IntArray
    """Index into ``area_sets`` of each sample."""
    area_sets: list[frozenset[str]]
    combos: IntArray
    combo_of_row: IntArray
    band: float
    """How close to a threshold (seconds) a run is too close to call."""
    rules: list[Rule]
    rule_pos: dict[int, int]
    """Position in ``rules`` of each rule, by ``id()``: rules are not hashable."""

    @classmethod
    def of(cls, model: ZoneModel, track: Track) -> SentSamples:
        """The samples ``track`` sent, placed in ``model``'s areas and schedule."""
        rows = np.flatnonzero(track.sent)
        lon, lat, t_ms = track.lon[rows], track.lat[rows], track.t_ms[rows]
        minute = model.minute_index(t_ms)
        state = model.minute_state[minute]
        membership = np.zeros((len(rows), len(model.area_ids)), dtype=np.bool_)
        for j, geometry in enumerate(model.areas_ll):
            membership[:, j] = shapely.intersects_xy(geometry, lon, lat)
        set_keys, set_of_row = np.unique(membership, axis=0, return_inverse=True)
        set_of_row = set_of_row.reshape(-1)
        area_sets = [
            frozenset(a for a, inside in zip(model.area_ids, key, strict=True) if inside) for key in set_keys
        ]
        combo = set_of_row * len(model.state_time) + state
        combos, combo_of_row = np.unique(combo, return_inverse=True)
        rules = list(model.zone.rules)
        return cls(
            model=model,
            track=track,
            rows=rows,
            vehicle_class=track.identity.vehicle_class,
            lon=lon,
            lat=lat,
            t_ms=t_ms,
            speed=track.speed_kmh[rows],
            mode=track.mode[rows],
            minute=minute,
            state=state,
            membership=membership,
            set_of_row=set_of_row,
            area_sets=area_sets,
            combos=combos,
            combo_of_row=combo_of_row.reshape(-1),
            band=max(1.5 / model.rate, 1.0),
            rules=rules,
            rule_pos={id(r): i for i, r in enumerate(rules)},
        )

    def winners(self, kind: str) -> tuple[IntArray, list[str | None]]:
        """Per sample, the position in ``rules`` of the ``kind`` rule in force (-1 for none)
        and the area it comes from."""
        model = self.model
        states = len(model.state_time)
        pos = np.full(len(self.combos), -1, dtype=np.int64)
        areas: list[str | None] = []
        for i, code in enumerate(self.combos):
            w = model.winner(kind, self.area_sets[code // states], int(code % states), self.vehicle_class)
            pos[i] = self.rule_pos[id(w.rule)] if w is not None else -1
            areas.append(w.area if w is not None else None)
        return pos[self.combo_of_row], [areas[i] for i in self.combo_of_row] if areas else []

    def applies(self, rule: Rule) -> BoolArray:
        """Per sample, whether ``rule`` covers the vehicle's class then (areas aside)."""
        model = self.model
        return np.array([model.applies(rule, self.vehicle_class, s) for s in model.states()])[self.state]

    def in_areas(self, areas: list[str]) -> BoolArray:
        """Per sample, whether it is in any of ``areas`` (names the zone lacks are ignored)."""
        return np.asarray(self.membership[:, self.area_columns(areas)].any(axis=1), dtype=np.bool_)

    def area_columns(self, areas: list[str]) -> list[int]:
        """Columns of ``membership`` for those of ``areas`` the zone has."""
        model = self.model
        return [model.area_ids.index(a) for a in areas if a in model.zone.areas]

    def report(
        self,
        kind: str,
        mask: BoolArray,
        key: IntArray,
        area_of: list[str | None],
        *,
        threshold: Callable[[Any], float],
        detail: Callable[[Any, int, int], dict[str, Any]],
    ) -> Verdict:
        """A finding for each run of samples in ``mask`` under one rule (``key``, a position in
        ``rules``) that lasts longer than the rule's ``threshold`` seconds."""
        verdict = Verdict([])
        t_ms = self.t_ms
        for first, last in runs(mask, key):
            rule = self.rules[int(key[first])]
            limit = threshold(rule)
            seconds = (t_ms[last] - t_ms[first]) / 1000.0
            if abs(seconds - limit) <= self.band:
                verdict.ambiguous = True
            if seconds > limit:
                verdict.findings.append(
                    Finding(
                        kind,
                        rule.id,
                        area_of[first],
                        int(t_ms[first]),
                        int(t_ms[last]),
                        detail(rule, first, last),
                    )
                )
        return verdict


def runs(mask: BoolArray, key: IntArray) -> list[tuple[int, int]]:
    """(first, last) sample of each run where ``mask`` holds and ``key`` stays the same."""
    marked = np.where(mask, key, -1)
    change = np.flatnonzero(np.diff(marked) != 0) + 1
    bounds = np.concatenate(([0], change, [len(marked)]))
    return [(int(a), int(b) - 1) for a, b in itertools.pairwise(bounds) if marked[a] >= 0]
