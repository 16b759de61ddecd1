"""Where each sample is: its zone and the areas of that zone, for whole batches at once.

Assignment is stateless, so the pipeline runs it before grouping by vehicle; the areas are
kept as CSR lists (offsets and codes) so that a batch stays a handful of numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.zones.compiled import area_index
from pilotzone.zones.history import history_of
from pilotzone.zones.zone import Zone

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ZonedBatch:
    """A batch plus where each sample is: its zone and the areas of that zone it is in.

    ``zone[i]`` indexes the zones list given to ``assign_zones`` (-1: outside every boundary);
    the areas of sample ``i`` are ``area_codes[area_offsets[i]:area_offsets[i + 1]]``, positions
    in ``area_index(zones[zone[i]]).area_ids``, ascending.
    """

    batch: TelemetryBatch
    zone: npt.NDArray[np.int16]
    area_offsets: IntArray
    area_codes: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.batch)

    def areas_of(self, row: int) -> npt.NDArray[np.int32]:
        """Area positions of one sample."""
        return self.area_codes[self.area_offsets[row] : self.area_offsets[row + 1]]

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> ZonedBatch:
        """The selected samples (an index array or a mask) with their zones and areas."""
        index = np.flatnonzero(rows) if rows.dtype == np.bool_ else np.asarray(rows, dtype=np.intp)
        offsets, codes = csr_take(self.area_offsets, self.area_codes, index)
        return ZonedBatch(self.batch.take(index), self.zone[index], offsets, codes)

    def span(self, start: int, end: int) -> ZonedBatch:
        """The consecutive samples ``start:end`` with their zones and areas (``take`` of that range)."""
        first, last = int(self.area_offsets[start]), int(self.area_offsets[end])
        return ZonedBatch(
            self.batch.span(start, end),
            self.zone[start:end].copy(),
            self.area_offsets[start : end + 1] - first,
            self.area_codes[first:last].copy(),
        )

    @classmethod
    def concat(cls, items: Sequence[ZonedBatch]) -> ZonedBatch:
        """One ZonedBatch holding all samples of ``items`` in order."""
        if not items:
            return assign_zones([], TelemetryBatch.from_records([]))
        shifts = np.cumsum([0] + [len(item.area_codes) for item in items[:-1]])
        offsets = np.concatenate(
            [np.zeros(1, dtype=np.int64)]
            + [item.area_offsets[1:] + shift for item, shift in zip(items, shifts, strict=True)]
        )
        return cls(
            TelemetryBatch.concat([item.batch for item in items]),
            np.concatenate([item.zone for item in items]).astype(np.int16),
            offsets.astype(np.int64),
            np.concatenate([item.area_codes for item in items]).astype(np.int32),
        )


def assign_zones(zones: Sequence[Zone], batch: TelemetryBatch) -> ZonedBatch:
    """Zone and areas of every sample, vectorised (stateless, so it can run before grouping).

    A sample inside several zones' boundaries goes to the first of them in ``zones``. When
    ``zones`` is a config history (``zones.history``), each sample is placed among the
    versions in force at its event time, and ``zone[i]`` indexes that epoch's zones.
    """
    history = history_of(zones)
    if not history.changes:
        return _assign_in(zones, batch)
    epoch = history.epoch_index(batch.time_ms)
    if len(epoch) == 0 or bool((epoch == epoch[0]).all()):
        return _assign_in(history.epochs[int(epoch[0]) if len(epoch) else 0].zones, batch)
    parts: list[ZonedBatch] = []
    order: list[npt.NDArray[np.intp]] = []
    for index in np.unique(epoch).tolist():
        rows = np.flatnonzero(epoch == index)
        parts.append(_assign_in(history.epochs[index].zones, batch.take(rows)))
        order.append(rows)
    placed = ZonedBatch.concat(parts)
    inverse = np.argsort(np.concatenate(order), kind="stable")
    offsets, codes = csr_take(placed.area_offsets, placed.area_codes, inverse)
    return ZonedBatch(batch, placed.zone[inverse], offsets, codes)


def _assign_in(zones: Sequence[Zone], batch: TelemetryBatch) -> ZonedBatch:
    n = len(batch)
    zone = np.full(n, -1, dtype=np.int16)
    owners: list[npt.NDArray[np.intp]] = []
    codes: list[npt.NDArray[np.intp]] = []
    remaining = np.arange(n)
    for position, candidate in enumerate(zones):
        if remaining.size == 0:
            break
        index = area_index(candidate)
        lon, lat = batch.longitude[remaining], batch.latitude[remaining]
        inside = index.inside_boundary(lon, lat)
        rows = remaining[inside]
        if rows.size == 0:
            continue
        zone[rows] = position
        remaining = remaining[~inside]
        if index.area_ids:
            samples, positions = index.areas_containing(lon[inside], lat[inside])
            owners.append(rows[samples])
            codes.append(positions)
    if owners:
        owner = np.concatenate(owners)
        order = np.argsort(owner, kind="stable")
        area_codes = np.concatenate(codes)[order].astype(np.int32)
        counts = np.bincount(owner, minlength=n)
    else:
        area_codes = np.zeros(0, dtype=np.int32)
        counts = np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return ZonedBatch(batch, zone, offsets, area_codes)


def csr_take(
    offsets: IntArray, codes: npt.NDArray[np.int32], rows: npt.NDArray[np.intp]
) -> tuple[IntArray, npt.NDArray[np.int32]]:
    """The CSR lists of the selected rows, in the order given."""
    lengths = (offsets[1:] - offsets[:-1])[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    if total == 0:
        return new_offsets, np.zeros(0, dtype=np.int32)
    source = np.repeat(offsets[:-1][rows] - new_offsets[:-1], lengths) + np.arange(total)
    return new_offsets, codes[source]
