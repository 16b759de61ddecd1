"""A bucket's window summaries: the samples' partials per window key, summed over vehicles.

Per vehicle, ``chunk.summarise`` adds each stretch of samples to that vehicle's window
accumulators, and the replay then sums the vehicles' partials per key. Here the same figures
come from one pass over the whole sorted bucket, summed per key directly: the same integer
milliseconds and millimetres, so the same sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pilotzone import geo
from pilotzone.schemas.batch import DRIVING_MODES, EVENT_KINDS, VEHICLE_CLASSES
from pilotzone.zones.evaluate.chunk import Chunk
from pilotzone.zones.evaluate.summaries import WindowKey, Windows, WindowSummary, sum_by_key
from pilotzone.zones.kinds.base import IntArray
from pilotzone.zones.zone import Zone

_DISENGAGEMENT = EVENT_KINDS.index("DISENGAGEMENT")
_REMOTE_TAKEOVER = EVENT_KINDS.index("REMOTE_TAKEOVER")


@dataclass
class WindowPartial:
    """What the samples of one window key add up to over the bucket's vehicles."""

    samples: int = 0
    vehicle_ms: int = 0
    distance_mm: dict[int, int] = field(default_factory=dict)
    disengagements: int = 0
    remote_takeovers: int = 0
    vehicle_ids: frozenset[str] = frozenset()


def window_partials(  # noqa: PLR0917 - the bucket's columns, vehicles and operators
    chunk: Chunk,
    dt_ms: IntArray,
    owner: IntArray,
    vehicles: Sequence[str],
    op_codes: tuple[list[str], IntArray],
    window_ms: int,
) -> dict[WindowKey, WindowPartial]:
    """Samples, observed time, distance by mode, events and vehicles per window key, over a
    bucket's placed samples (``chunk.gap`` also marks each vehicle's first fix; ``owner``:
    each sample's vehicle, a position in ``vehicles``; ``dt_ms``: time since the previous)."""
    cols = chunk.cols
    m = len(cols.t)
    if m == 0:
        return {}
    observed = ~chunk.gap
    observed_ms = np.where(observed, dt_ms, 0)
    distance_mm = np.zeros(m, dtype=np.int64)
    if m > 1:
        metres = geo.haversine_m(cols.lon[:-1], cols.lat[:-1], cols.lon[1:], cols.lat[1:])
        distance_mm[1:] = np.where(observed[1:], np.rint(metres * 1000), 0).astype(np.int64)
    earlier_mode = np.zeros(m, dtype=np.int64)
    earlier_mode[1:] = cols.mode[:-1]
    operators, op_code = op_codes
    window = cols.t // window_ms
    key_of, unique, heads = window_keys(owner, cols.vz, op_code, cols.cls.astype(np.int64), window)
    count = len(unique)
    samples = np.bincount(key_of, minlength=count)
    seconds = np.bincount(key_of, weights=observed_ms, minlength=count)
    modes = len(DRIVING_MODES)
    by_mode = np.bincount(key_of * modes + earlier_mode, weights=distance_mm, minlength=count * modes)
    by_mode = by_mode.reshape(count, modes)
    event_counts = np.zeros((2, count), dtype=np.int64)
    batch = chunk.zoned.batch
    if len(batch.event_row):
        position = np.full(len(batch), -1, dtype=np.int64)
        position[chunk.rows] = np.arange(m)
        event_position = position[batch.event_row]
        kept = event_position >= 0
        for k, code in enumerate((_DISENGAGEMENT, _REMOTE_TAKEOVER)):
            of_kind = kept & (batch.event_kind == code)
            np.add.at(event_counts[k], key_of[event_position[of_kind]], 1)
    vehicles_of: list[set[str]] = [set() for _ in range(count)]
    for k, v in zip(key_of[heads].tolist(), owner[heads].tolist(), strict=True):
        vehicles_of[k].add(vehicles[v])
    partials = {}
    for k, (zone_pos, op, cls, w) in enumerate(unique):
        partials[(zone_pos, operators[op], cls, w * window_ms)] = WindowPartial(
            samples=int(samples[k]),
            vehicle_ms=round(float(seconds[k])),
            distance_mm={mode: round(mm) for mode, mm in enumerate(by_mode[k].tolist()) if mm},
            disengagements=int(event_counts[0, k]),
            remote_takeovers=int(event_counts[1, k]),
            vehicle_ids=frozenset(vehicles_of[k]),
        )
    return partials


def bucket_summaries(
    zones: Sequence[Zone], partials: dict[WindowKey, WindowPartial], windows: Windows
) -> list[WindowSummary]:
    """The samples' partials and the incidents' violation time and counts (``windows``), one
    summary per key, in key order (``sum_by_key``); ``zones``: the zone positions' zones."""
    summaries = []
    for key in sorted(set(partials) | set(windows.open)):
        zone_pos, operator, cls, start = key
        part = partials.get(key, WindowPartial())
        acc = windows.open.get(key)
        summaries.append(
            WindowSummary(
                pilot_zone=zones[zone_pos].zone_id,
                config_version=zones[zone_pos].version,
                operator_id=operator,
                vehicle_class=VEHICLE_CLASSES[cls],
                window_start_ms=start,
                samples=part.samples,
                vehicle_ids=part.vehicle_ids,
                vehicle_seconds=part.vehicle_ms / 1000,
                distance_m_by_mode={
                    DRIVING_MODES[mode]: mm / 1000 for mode, mm in sorted(part.distance_mm.items())
                },
                violation_s_by_rule={}
                if acc is None
                else {rule: ms / 1000 for rule, ms in sorted(acc.violation_ms.items())},
                incidents_opened={} if acc is None else dict(sorted(acc.opened.items())),
                disengagements=part.disengagements,
                remote_takeovers=part.remote_takeovers,
            )
        )
    return sum_by_key(summaries)


def window_keys(owner: IntArray, *columns: IntArray) -> tuple[IntArray, list[tuple[int, ...]], IntArray]:
    """Each row's position among the distinct rows of ``columns``, those rows in sorted
    order, and the first row of each stretch of one vehicle with equal columns.

    The columns change rarely along the sorted bucket (a vehicle's window, zone, class or
    operator), so only the stretches' first rows are looked at.
    """
    n = len(owner)
    same = owner[1:] == owner[:-1]
    for column in columns:
        same &= column[1:] == column[:-1]
    heads = np.concatenate([[0], np.flatnonzero(~same) + 1]) if n else np.zeros(0, dtype=np.int64)
    run_keys = list(zip(*(column[heads].tolist() for column in columns), strict=True))
    distinct = sorted(set(run_keys))
    position = {key: k for k, key in enumerate(distinct)}
    run_of = np.array([position[key] for key in run_keys], dtype=np.int64)
    key_of: IntArray = np.repeat(run_of, np.diff(np.append(heads, n)))
    return key_of, distinct, heads
