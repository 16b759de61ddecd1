"""A whole bulk fleet: vehicles generated in chunks (in worker processes), written as parts.

Each chunk of vehicles is generated, ordered as ``pilotzone compact`` orders a fleet's uploads
(time slice first, then vehicle id, each vehicle's records in time order: the uploads' paths
are ``<slice>/<vehicle_id>.avro`` and compaction keeps path order), encoded and framed into one
deflate block per vehicle per slice (an upload's block), and spooled to a file of its own with
the offset of every slice. The parts are then cut from the spools slice by slice, so memory
follows one chunk, not the fleet. ``fleet.json`` is written last: a folder without it is an
unfinished fleet, and one with it is reused when asked for the same fleet again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import multiprocessing
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import numpy as np

from pilotzone.pipelines.compaction import PART_BYTES
from pilotzone.pipelines.simulator.bulk.encoding import (
    Columns,
    container_header,
    encode_records,
    framed_block,
)
from pilotzone.pipelines.simulator.bulk.site import Site, prepare_site
from pilotzone.pipelines.simulator.bulk.tracks import INJECTED_KINDS, VehicleTrack, class_code, vehicle_track
from pilotzone.pipelines.simulator.options import DEFAULT_INJECT_RATES, DEFAULT_LOCAL_START
from pilotzone.zones import load_zones

FLEET_FILE = "fleet.json"
SLICE_S = 60
"""One block per vehicle per minute, as vehicles upload."""


@dataclass(frozen=True)
class BulkFleetOptions:
    """What to write: ``vehicles`` for ``duration_s`` seconds at 1 Hz from ``start`` (None:
    ``DEFAULT_LOCAL_START`` in the zone's timezone), one injection per vehicle at most, drawn
    with ``rates`` (fraction of vehicles per kind of ``INJECTED_KINDS``)."""

    vehicles: int
    duration_s: int
    seed: int
    start: dt.datetime | None = None
    rates: Mapping[str, float] = field(
        default_factory=lambda: {kind: DEFAULT_INJECT_RATES[kind] for kind in INJECTED_KINDS}
    )
    workers: int = 1
    chunk_vehicles: int = 200
    part_bytes: int = PART_BYTES

    def key(self) -> dict[str, Any]:
        """What the written records depend on (not the workers, chunking or part size... of
        which only the part size changes the files, so it is part of the key too)."""
        return {
            "vehicles": self.vehicles,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "start": None if self.start is None else self.start.isoformat(),
            "rates": dict(sorted(self.rates.items())),
            "part_bytes": self.part_bytes,
        }


@dataclass(frozen=True)
class BulkFleet:
    """What a bulk fleet folder holds (``fleet.json``)."""

    options: dict[str, Any]
    zone_version: str
    records: int
    parts: list[str]
    injected: dict[str, int]
    classes: dict[str, int]


def vehicle_id(index: int) -> str:
    """The pseudonymous id of bulk vehicle ``index`` (zero-padded, so ids sort as indexes)."""
    return f"bulk-{index:06d}"


_SITES: dict[str, tuple[Site, str]] = {}


def _site(zone_path: str) -> tuple[Site, str]:
    """The prepared site (and the zone's version), once per process."""
    if zone_path not in _SITES:
        (zone,) = load_zones([Path(zone_path)])
        _SITES[zone_path] = (prepare_site(zone), zone.version)
    return _SITES[zone_path]


@dataclass(frozen=True)
class _Chunk:
    zone_path: str
    options: BulkFleetOptions
    start_ms: int
    first: int
    last: int
    spool: str
    sync: bytes


def _columns(tracks: list[VehicleTrack], first: int, operators: list[str]) -> Columns:
    def stack(name: str, dtype: Any) -> Any:
        return np.concatenate([np.asarray(getattr(track, name), dtype=dtype) for track in tracks])

    sizes = [len(track.time_ms) for track in tracks]
    return Columns(
        vehicle=np.repeat(np.arange(len(tracks), dtype=np.int64), sizes),
        operator=np.repeat([operators.index(track.operator_id) for track in tracks], sizes).astype(np.int64),
        vehicle_class=np.repeat([class_code(track.vehicle_class) for track in tracks], sizes).astype(
            np.int64
        ),
        sequence=stack("sequence", np.int64),
        time_ms=stack("time_ms", np.int64),
        latitude=stack("latitude", np.float64),
        longitude=stack("longitude", np.float64),
        altitude=stack("altitude", np.float64),
        heading=stack("heading", np.float32),
        accuracy=stack("accuracy", np.float32),
        speed_kmh=stack("speed_kmh", np.float32),
        mode=stack("mode", np.int64),
        level=stack("level", np.int64),
        event=stack("event", np.int64),
        initiator=stack("initiator", np.int64),
    )


def _take(columns: Columns, order: np.ndarray) -> Columns:
    return Columns(**{name: value[order] for name, value in vars(columns).items()})


def _write_chunk(chunk: _Chunk) -> tuple[list[int], int, Counter[str], Counter[str]]:
    """Generate, order, encode and spool one chunk; its slice offsets in the spool and counts."""
    site, _ = _site(chunk.zone_path)
    options = chunk.options
    tracks = [
        vehicle_track(
            site,
            options.seed,
            index,
            samples=options.duration_s,
            start_ms=chunk.start_ms,
            rates=options.rates,
        )
        for index in range(chunk.first, chunk.last)
    ]
    operators = sorted({plan.operator_id for plan in site.classes})
    columns = _columns(tracks, chunk.first, operators)
    slice_ms = SLICE_S * 1000
    first_slice = chunk.start_ms // slice_ms
    slices = columns.time_ms // slice_ms - first_slice
    key = slices * len(tracks) + columns.vehicle
    order = np.argsort(key, kind="stable")
    columns = _take(columns, order)
    key = key[order]
    data, lengths = encode_records(
        columns, [vehicle_id(i) for i in range(chunk.first, chunk.last)], operators
    )
    ends = np.concatenate([np.flatnonzero(np.diff(key)) + 1, [len(key)]])
    starts = np.concatenate([[0], ends[:-1]])
    byte_ends = np.cumsum(lengths)
    byte_starts = byte_ends - lengths
    slice_count = _slice_count(options, chunk.start_ms)
    offsets = [0] * (slice_count + 1)
    position = 0
    with open(chunk.spool, "wb") as spool:
        for begin, end in zip(starts.tolist(), ends.tolist(), strict=True):
            block = framed_block(data[byte_starts[begin] : byte_ends[end - 1]], end - begin, chunk.sync)
            spool.write(block)
            position += len(block)
            offsets[int(key[begin]) // len(tracks) + 1] = position
    for number in range(1, len(offsets)):
        offsets[number] = max(offsets[number], offsets[number - 1])
    injected = Counter(track.injected for track in tracks if track.injected is not None)
    classes = Counter(track.vehicle_class for track in tracks)
    return offsets, len(key), injected, classes


def _slice_count(options: BulkFleetOptions, start_ms: int) -> int:
    slice_ms = SLICE_S * 1000
    last_ms = start_ms + 999 + 1000 * (options.duration_s - 1)
    return int(last_ms // slice_ms - start_ms // slice_ms + 1)


def read_fleet(out: Path) -> BulkFleet | None:
    """The fleet written in ``out``, None if there is none (or an unfinished one)."""
    path = out / FLEET_FILE
    if not path.exists():
        return None
    return BulkFleet(**json.loads(path.read_text(encoding="utf-8")))


def write_bulk_fleet(zone_path: Path, options: BulkFleetOptions, out: Path) -> BulkFleet:
    """Write the fleet into ``out`` (reusing one already there for the same options and zone)."""
    if options.vehicles < 1 or options.duration_s < 2:
        raise ValueError("a bulk fleet needs at least 1 vehicle and 2 seconds")
    site, zone_version = _site(str(zone_path))
    shortest = int(max(site.free_dwell_s + 360, site.bay_dwell_s + 90 if site.bays else 0))
    if options.rates.get("dwell", 0.0) > 0 and options.duration_s < shortest:
        raise ValueError(
            f"dwell injections need at least {shortest} s of driving in zone {site.zone_id}: "
            f"give a duration of {shortest} s or more, or a dwell rate of 0"
        )
    existing = read_fleet(out)
    if existing is not None and existing.options == options.key() and existing.zone_version == zone_version:
        return existing
    out.mkdir(parents=True, exist_ok=True)
    (out / FLEET_FILE).unlink(missing_ok=True)
    for stale in out.glob("part-*.avro"):
        stale.unlink()
    start = options.start or DEFAULT_LOCAL_START
    if start.tzinfo is None:
        (zone,) = load_zones([zone_path])
        start = start.replace(tzinfo=zone.config.tz)
    start_ms = int(start.timestamp() * 1000)
    sync = hashlib.sha256(f"pilotzone-bulk:{options.seed}:{site.zone_id}".encode()).digest()[:16]
    chunks = [
        _Chunk(
            str(zone_path),
            options,
            start_ms,
            first,
            min(first + options.chunk_vehicles, options.vehicles),
            str(out / f".spool-{n:05d}"),
            sync,
        )
        for n, first in enumerate(range(0, options.vehicles, options.chunk_vehicles))
    ]
    if options.workers > 1:
        with multiprocessing.get_context("spawn").Pool(options.workers) as pool:
            results = pool.map(_write_chunk, chunks, chunksize=1)
    else:
        results = [_write_chunk(chunk) for chunk in chunks]
    header = container_header(sync)
    schema_json = fastavro.reader(io.BytesIO(header)).metadata["avro.schema"].encode("utf-8")
    schema_id = hashlib.sha256(schema_json).hexdigest()[:8]
    parts: list[str] = []
    current: io.BufferedWriter | None = None
    size = 0
    for number in range(_slice_count(options, start_ms)):
        for chunk, (offsets, *_rest) in zip(chunks, results, strict=True):
            begin, end = offsets[number], offsets[number + 1]
            if begin == end:
                continue
            if current is None:
                name = f"part-{schema_id}-deflate-{len(parts):05d}.avro"
                parts.append(name)
                current = open(out / name, "wb")  # noqa: SIM115 -- closed when the part is full
                current.write(header)
                size = 0
            with open(chunk.spool, "rb") as spool:
                spool.seek(begin)
                current.write(spool.read(end - begin))
            size += end - begin
            if size >= options.part_bytes:
                current.close()
                current = None
    if current is not None:
        current.close()
    for chunk in chunks:
        Path(chunk.spool).unlink()
    injected: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    for _, _, chunk_injected, chunk_classes in results:
        injected.update(chunk_injected)
        classes.update(chunk_classes)
    fleet = BulkFleet(
        options=options.key(),
        zone_version=zone_version,
        records=sum(result[1] for result in results),
        parts=parts,
        injected={kind: injected.get(kind, 0) for kind in INJECTED_KINDS},
        classes=dict(sorted(classes.items())),
    )
    (out / FLEET_FILE).write_text(
        json.dumps(asdict(fleet), indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return fleet
