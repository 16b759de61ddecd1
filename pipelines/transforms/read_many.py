"""Reading a replay many files at a time: few, large columnar elements instead of one per upload.

Vehicles upload one small file a minute (~60 records), so a replay of an hour of 2,000
vehicles is 120,000 files. One Beam element per file costs more than decoding the file, and
a columnar Avro reader pays a fixed cost per call: both vanish when the unit of work is a
*group* of files. ``ReadTelemetryGroups`` lists the input once and cuts the sorted file list
into groups of about ``MAX_GROUP_BYTES`` (at most ``MAX_GROUP_FILES`` files); ``DecodeGroupFn``
decodes one group at a time:

* contract-schema container files that pass the pre-scan (``pilotzone.schemas.columnar``) are
  spliced into one container (deflate blocks inflated on the way, ``splice_inflated``) and
  decoded in one columnar call, which also gives the vehicle ids as a dictionary,
* every other file (another writer schema, lz4, anything malformed or out of bounds, or a
  file the columnar reader refuses) goes through the reference decoder, as before,

then runs the record checks once on the whole group and cuts the result by *vehicle bucket*
(a stable hash of the vehicle id, computed once per distinct vehicle), not by vehicle: a
handful of elements per group, each a ``GroupChunk`` carrying its group's position so the
evaluation can restore file order.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pilotzone.pipelines.digests import DigestLog
from pilotzone.pipelines.transforms.decode import (
    DEAD_LETTER,
    METRICS_NAMESPACE,
    dead_letter_record,
    record_delays,
)
from pilotzone.pipelines.transforms.inputs import match_inputs
from pilotzone.pipelines.transforms.spill import vehicle_bucket
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.checks import Finding, record_findings, unusable_rows
from pilotzone.schemas.columnar import (
    ColumnarDeclinedError,
    ContainerScan,
    HeaderReader,
    decode_columnar_coded,
    is_contract_schema,
    scan_container,
    splice,
    splice_inflated,
)
from pilotzone.schemas.decode import DeadLetter, TelemetryDecoder
from pilotzone.schemas.factorize import sorted_codes

LOG = logging.getLogger("pilotzone.replay")

MAX_GROUP_BYTES = 16 * 1024 * 1024
"""Stored bytes per group of files: about 350,000 records of uploads, ~30 MB of columns."""

MAX_GROUP_FILES = 8192
"""Files per group, whatever their size."""

PROGRESS_EVERY_S = 5.0


@dataclass
class GroupChunk:
    """Samples of one group of files that fall in one vehicle bucket, rows in file order.

    ``group`` is the group's position in the sorted file list: chunks of a bucket are joined in
    that order, so samples that tie on (vehicle, time, sequence number) keep file order.
    """

    group: int
    batch: TelemetryBatch


class GroupChunkCoder(beam.coders.Coder):
    """``GroupChunk`` ↔ bytes: the group's position, then ``TelemetryBatch.to_bytes``."""

    def encode(self, value: GroupChunk) -> bytes:
        return value.group.to_bytes(8, "little") + value.batch.to_bytes()

    def decode(self, encoded: bytes) -> GroupChunk:
        return GroupChunk(int.from_bytes(encoded[:8], "little"), TelemetryBatch.from_bytes(encoded[8:]))

    def is_deterministic(self) -> bool:
        return False

    def estimate_size(self, value: GroupChunk) -> int:
        # Beam's default encodes the value to measure it, which would encode every chunk twice.
        return 8 + 80 * len(value.batch)

    def to_type_hint(self) -> Any:
        return GroupChunk


beam.coders.registry.register_coder(GroupChunk, GroupChunkCoder)


FileSlice = tuple[str, int, int]
"""(path, slice, slices): a file, or the ``slice``-th of ``slices`` shares of its blocks."""


def plan_groups(
    input_pattern: str, max_bytes: int = MAX_GROUP_BYTES, max_files: int = MAX_GROUP_FILES
) -> list[list[FileSlice]]:
    """The matched files, sorted by path, cut into consecutive groups by size and count.

    Small files share a group; a file larger than ``max_bytes`` (a compacted part) is cut into
    slices of its blocks, one group each, so it is decoded in bounded memory and by every
    worker. The pattern is read as a user means it and one that matches nothing raises
    ``InputPatternError`` (``inputs.match_inputs``).
    """
    files = [(m.path, m.size_in_bytes) for m in match_inputs(input_pattern)]
    groups: list[list[FileSlice]] = [[]]
    size = 0
    for path, length in files:
        if length > max_bytes:
            slices = -(-length // max_bytes)
            groups.extend([[(path, index, slices)] for index in range(slices)])
            groups.append([])
            size = 0
            continue
        if groups[-1] and (size + length > max_bytes or len(groups[-1]) >= max_files):
            groups.append([])
            size = 0
        groups[-1].append((path, 0, 1))
        size += length
    return [group for group in groups if group]


class ReadTelemetryGroups(beam.PTransform):
    """A file pattern → (group position, [file slices]) elements, spread over the workers."""

    def __init__(self, input_pattern: str, max_bytes: int = MAX_GROUP_BYTES) -> None:
        super().__init__()
        self.input_pattern = input_pattern
        self.max_bytes = max_bytes

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        max_bytes = self.max_bytes
        return (
            pbegin
            | "Pattern" >> beam.Create([self.input_pattern])
            | "PlanGroups" >> beam.FlatMap(lambda pattern: enumerate(plan_groups(pattern, max_bytes)))
            | "Spread" >> beam.Reshuffle()
        )


@dataclass
class _Decoded:
    """A group's decoded samples with, per row, the file (position in the group) and block
    offset, and the vehicle ids as a dictionary: ``vehicles`` (may repeat) and each row's
    position in it (``vehicle_codes``)."""

    batch: TelemetryBatch
    file: np.ndarray
    block_offset: np.ndarray
    vehicles: list[str]
    vehicle_codes: np.ndarray

    def take(self, rows: np.ndarray) -> _Decoded:
        return _Decoded(
            self.batch.take(rows),
            self.file[rows],
            self.block_offset[rows],
            self.vehicles,
            self.vehicle_codes[rows],
        )

    @classmethod
    def concat(cls, parts: list[_Decoded]) -> _Decoded:
        if len(parts) == 1:
            return parts[0]
        firsts = np.cumsum([0] + [len(part.vehicles) for part in parts[:-1]])
        return cls(
            TelemetryBatch.concat([part.batch for part in parts]),
            np.concatenate([part.file for part in parts]),
            np.concatenate([part.block_offset for part in parts]),
            [vehicle for part in parts for vehicle in part.vehicles],
            np.concatenate([part.vehicle_codes + first for part, first in zip(parts, firsts, strict=True)]),
        )


def _read(path: str) -> bytes:
    """A file's bytes; local files directly, as Beam's file system layer costs about half a
    millisecond per file, more than decoding a one-minute upload."""
    if FileSystems.get_scheme(path) is None:
        with open(path, "rb") as local:
            return local.read()
    with FileSystems.open(path, compression_type="uncompressed") as stream:
        data: bytes = stream.read()
        return data


class DecodeGroupFn(beam.DoFn):
    """Decode one group of files; dead-letter what fails; cut the rest into vehicle buckets."""

    def __init__(self, buckets: int, progress: bool = False, digests: str | None = None) -> None:
        self.buckets = buckets
        self.progress = progress
        self.digests = None if digests is None else DigestLog(digests)
        self.decoder: TelemetryDecoder | None = None
        self.headers = HeaderReader()
        self.last_scan: tuple[str, bytes, ContainerScan | None] | None = None
        self.started = self.last_log = 0.0
        self.files_read = self.bytes_read = 0
        self.read = Metrics.counter(METRICS_NAMESPACE, "records_read")
        self.dead = Metrics.counter(METRICS_NAMESPACE, "records_dead_lettered")
        # Files (or slices of large files) each decoder took: how much of a replay the fast path served.
        self.columnar_files = Metrics.counter(METRICS_NAMESPACE, "files_decoded_columnar")
        self.reference_files = Metrics.counter(METRICS_NAMESPACE, "files_decoded_reference")

    def setup(self) -> None:
        # The columnar reader's import (polars, ~0.14 s of CPU) once per worker, here rather
        # than inside the first group's decode; the replay's modules do not import it, as
        # `pilotzone stream` imports them and never decodes columnar.
        import polars_avro  # noqa: F401

        self.decoder = TelemetryDecoder()
        self.headers = HeaderReader()
        self.started = self.last_log = time.monotonic()
        self.files_read = self.bytes_read = 0

    def _log_progress(self, files: int, size: int) -> None:
        """Every few seconds, files and bytes read so far, so a long replay shows it is alive."""
        self.files_read += files
        self.bytes_read += size
        now = time.monotonic()
        if self.progress and now - self.last_log >= PROGRESS_EVERY_S:
            self.last_log = now
            LOG.info(
                "progress: %d files, %.1f MB read in %.0f s",
                self.files_read,
                self.bytes_read / 1e6,
                now - self.started,
            )

    def process(self, element: tuple[int, list[FileSlice]]) -> Iterator[Any]:
        group, slices = element
        paths = [path for path, _, _ in slices]
        payloads = [self._read(path, count) for path, _, count in slices]
        if self.digests is not None:
            for (path, index, _), data in zip(slices, payloads, strict=True):
                if index == 0:  # every slice of a large file reads it whole; digest it once
                    self.digests.add(path, data)
        dead: list[dict[str, Any]] = []
        decoded = self._decode(slices, payloads, dead)
        batch = decoded.batch
        findings = record_findings(batch)
        unusable = unusable_rows(findings, len(batch))
        if unusable.any():
            dead.extend(_failing_records(paths, decoded, findings))
            decoded = decoded.take(~unusable)
            batch = decoded.batch
        yield from self._dead_letters(dead)
        self._log_progress(len(paths), sum(map(len, payloads)))
        if not len(batch):
            return
        record_delays(batch.time_ms, time.time_ns() // 1_000_000)
        yield from self._bucket_chunks(group, decoded)

    def _bucket_chunks(self, group: int, decoded: _Decoded) -> Iterator[tuple[int, GroupChunk]]:
        """The group's samples cut by vehicle bucket, rows of each bucket in the group's order.

        Each distinct vehicle is hashed once; the rows are put in bucket order by one stable
        sort and one ``take``, and each bucket is then a consecutive ``span`` of that, so the
        cut costs about one pass over the group, not one per bucket.
        """
        batch = decoded.batch
        # Bucket numbers as 16-bit ints where they fit: numpy's stable sort of them is a radix sort.
        vehicle_buckets = np.array(
            [vehicle_bucket(v, self.buckets) for v in decoded.vehicles],
            dtype=np.uint16 if self.buckets <= 1 << 16 else np.int64,
        )
        row_bucket = vehicle_buckets[decoded.vehicle_codes]
        first = int(row_bucket[0])
        if bool((row_bucket == first).all()):
            yield first, GroupChunk(group, batch)
            return
        order = np.argsort(row_bucket, kind="stable")
        in_order = batch.take(order)
        sorted_buckets = row_bucket[order]
        bounds = np.flatnonzero(sorted_buckets[1:] != sorted_buckets[:-1]) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(order)]
        for start, end in zip(starts, ends, strict=True):
            # Views: ``in_order`` is this group's own copy, and chunks are only encoded or read.
            yield int(sorted_buckets[start]), GroupChunk(group, in_order.span(start, end, copy=False))

    def finish_bundle(self) -> None:
        self.last_scan = None  # a large file's bytes are not held between bundles
        if self.digests is not None:
            self.digests.flush()

    def _decode(self, slices: list[FileSlice], payloads: list[bytes], dead: list[dict[str, Any]]) -> _Decoded:
        """Every file (or slice) of the group: columnar where the fast path accepts it, else the
        reference decoder."""
        fast: dict[tuple[bytes, str], list[_Member]] = {}
        slow: list[tuple[int, tuple[int, int] | None]] = []
        for position, (data, (path, index, count)) in enumerate(zip(payloads, slices, strict=True)):
            scan = self._scan(path, data) if count > 1 else scan_container(data, self.headers)
            if scan is None or not scan.block_offsets or not is_contract_schema(scan.schema_json):
                if index == 0:  # a file the fast path declines is decoded whole, once
                    slow.append((position, None))
                continue
            member = _slice_member(position, scan, index, count, len(data))
            if member.scan.block_offsets:
                fast.setdefault((scan.schema_json, scan.codec), []).append(member)
        parts: list[_Decoded] = []
        columnar = 0
        for members in fast.values():
            try:
                parts.append(_decode_fast(payloads, members))
                columnar += len(members)
            except ColumnarDeclinedError:
                # One bad file spoils the call; retry alone, so only the culprits leave the fast path.
                for member in members:
                    try:
                        parts.append(_decode_fast(payloads, [member]))
                        columnar += 1
                    except ColumnarDeclinedError:
                        slow.append((member.position, member.byte_range))
        self.columnar_files.inc(columnar)
        self.reference_files.inc(len(slow))
        for position, byte_range in sorted(slow, key=lambda item: item[0]):
            parts.append(
                self._decode_reference(position, slices[position][0], payloads[position], dead, byte_range)
            )
        if not parts:
            empty = np.zeros(0, np.int64)
            return _Decoded(TelemetryBatch.from_records([]), empty, empty, [], empty)
        decoded = _Decoded.concat(parts)
        self.read.inc(len(decoded.batch))
        if len(parts) > 1 and bool((np.diff(decoded.file) < 0).any()):
            return decoded.take(np.argsort(decoded.file, kind="stable"))
        return decoded

    def _read(self, path: str, slices: int) -> bytes:
        """A file's bytes; of a file cut into slices, the bytes of its last slice when they
        have not changed, so its other slices share one copy of them and one block scan."""
        data = _read(path)
        if slices > 1 and self.last_scan is not None:
            last_path, last_data, _ = self.last_scan
            if last_path == path and last_data == data:
                return last_data
        return data

    def _scan(self, path: str, data: bytes) -> ContainerScan | None:
        """``scan_container`` of a file cut into slices, walked once for all of its slices.

        Each slice of a large file reads the whole file and needs the scan of all its blocks
        (tens of thousands in a compacted part); the slices are consecutive groups, so one
        worker usually decodes them one after the other. The last such file's bytes and scan
        are kept, and reused only if the bytes read now are the same bytes (``_read``
        compares them: a small fraction of the scan's cost).
        """
        if self.last_scan is not None:
            last_path, last_data, last_scan = self.last_scan
            if last_path == path and last_data is data:
                return last_scan
        scan = scan_container(data, self.headers)
        self.last_scan = (path, data, scan)
        return scan

    def _decode_reference(
        self,
        position: int,
        source: str,
        data: bytes,
        dead: list[dict[str, Any]],
        byte_range: tuple[int, int] | None,
    ) -> _Decoded:
        """The reference decoder's records and dead letters; of a slice, only those whose block
        starts in its byte range, so the slices of one file never count a record twice."""
        assert self.decoder is not None, "setup() creates the decoder"
        batches: list[TelemetryBatch] = []
        offsets: list[np.ndarray] = []
        for item in self.decoder.decode(data, source):
            if byte_range is not None and not byte_range[0] <= item.offset < byte_range[1]:
                continue
            if isinstance(item, DeadLetter):
                self.read.inc(item.records)
                dead.append(
                    dead_letter_record(
                        source, item.offset, item.reason.value, item.message, records=item.records
                    )
                )
                continue
            batches.append(TelemetryBatch.from_records(item.records, item.first_record))
            offsets.append(np.full(len(item.records), item.offset, dtype=np.int64))
        batch = TelemetryBatch.concat(batches)
        vehicles, codes = sorted_codes(batch.vehicle_id)
        return _Decoded(
            batch,
            np.full(len(batch), position, dtype=np.int64),
            np.concatenate(offsets) if offsets else np.zeros(0, np.int64),
            vehicles,
            codes,
        )

    def _dead_letters(self, records: list[dict[str, Any]]) -> Iterator[Any]:
        for record in records:
            self.dead.inc(record["records"])
            Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{record['reason']}").inc(record["records"])
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, record)


@dataclass(frozen=True)
class _Member:
    """A file, or a slice of its blocks, for the fast path."""

    position: int
    scan: ContainerScan
    first_record: int
    """Records of the file before the slice: ``record_index`` counts from the file's start."""
    byte_range: tuple[int, int] | None
    """Where the slice's blocks start and end in the file (``None``: the whole file)."""


def _slice_member(position: int, scan: ContainerScan, index: int, count: int, size: int) -> _Member:
    """The ``index``-th of ``count`` shares of the file's blocks, cut by the blocks' positions."""
    if count == 1:
        return _Member(position, scan, 0, None)
    body = size - scan.header_end
    lo, hi = scan.header_end + body * index // count, scan.header_end + body * (index + 1) // count
    if index == 0:
        lo = 0  # anything the reference decoder reports before the first block belongs to one slice
    chosen = [i for i, offset in enumerate(scan.block_offsets) if lo <= offset < hi]
    first = chosen[0] if chosen else 0
    end = chosen[-1] + 1 if chosen else 0
    part = dataclasses.replace(
        scan,
        block_offsets=scan.block_offsets[first:end],
        block_counts=scan.block_counts[first:end],
        block_data=scan.block_data[first:end],
    )
    return _Member(position, part, sum(scan.block_counts[:first]), (lo, hi))


def _decode_fast(payloads: list[bytes], members: list[_Member]) -> _Decoded:
    """Files (or slices) of one writer schema and codec, spliced and decoded in one columnar call."""
    scans = [member.scan for member in members]
    counts = [count for scan in scans for count in scan.block_counts]
    per_file = [scan.records for scan in scans]
    chosen = [payloads[member.position] for member in members]
    whole = len(members) == 1 and members[0].byte_range is None
    if scans[0].codec == "deflate":
        payload = splice_inflated(chosen, scans)
    else:
        payload = chosen[0] if whole else splice(chosen, scans)
    decoded = decode_columnar_coded([payload], per_file)
    batch = decoded.batch
    if any(member.first_record for member in members):
        batch.record_index += np.repeat(
            np.array([member.first_record for member in members], dtype=np.int64),
            np.array(per_file, dtype=np.int64),
        )
    offsets = np.repeat(
        np.array([offset for scan in scans for offset in scan.block_offsets], dtype=np.int64),
        np.array(counts, dtype=np.int64),
    )
    files = np.repeat(
        np.array([member.position for member in members], dtype=np.int64), np.array(per_file, dtype=np.int64)
    )
    return _Decoded(batch, files, offsets, decoded.vehicles, decoded.vehicle_codes)


def _failing_records(paths: list[str], decoded: _Decoded, findings: list[Finding]) -> list[dict[str, Any]]:
    """One dead letter per unusable row, with its first finding, its file and its block's offset."""
    first: dict[int, Finding] = {}
    for finding in findings:
        first.setdefault(finding.row, finding)
    batch = decoded.batch
    return [
        dead_letter_record(
            paths[int(decoded.file[row])],
            int(decoded.block_offset[row]),
            finding.check.value,
            finding.message,
            record=int(batch.record_index[row]),
            vehicle_id=str(batch.vehicle_id[row]),
            sequence_number=int(batch.sequence_number[row]),
            time_ms=int(batch.time_ms[row]),
        )
        for row, finding in sorted(first.items())
    ]


class DecodeTelemetryGroups(beam.PTransform):
    """(group, [file slices]) → (vehicle bucket, ``GroupChunk``) elements, plus a ``dead_letter`` output."""

    def __init__(self, buckets: int, progress: bool = False, digests: str | None = None) -> None:
        super().__init__()
        self.buckets = buckets
        self.progress = progress
        self.digests = digests

    def expand(self, groups: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        decode = DecodeGroupFn(self.buckets, self.progress, self.digests)
        # Typed, so the chunks' PCollection has ``GroupChunkCoder``: the runner estimates the size
        # of sampled elements with their coder, and the fallback (pickle) pickled ~80 MB of chunks.
        typed = beam.ParDo(decode).with_output_types(tuple[int, GroupChunk])
        return groups | "DecodeGroups" >> typed.with_outputs(DEAD_LETTER, main="chunks")
