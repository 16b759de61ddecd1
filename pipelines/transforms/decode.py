"""Reading and decoding telemetry in Beam: bytes in, per-vehicle columnar chunks out.

``ReadTelemetry`` turns a file pattern into (path, bytes) pairs; ``DecodeTelemetry`` runs
the contract's decoder and record checks on them. Every record ends up in exactly one place:
a vehicle chunk on the main output, or a dead letter (with reason, source file and byte
offset) on the ``dead_letter`` output, so that decoded + dead-lettered = read always holds
and can be checked from the counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue

from pilotzone.pipelines.metrics.catalog import DELAY_BUCKETS_S, delay_bucket_counter
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.checks import Finding, record_findings, shown_id, unusable_rows
from pilotzone.schemas.decode import DeadLetter, TelemetryDecoder
from pilotzone.zones.evaluate import rfc3339_ms

DEAD_LETTER = "dead_letter"
"""Tag of the dead-letter output of ``DecodeTelemetry``."""

METRICS_NAMESPACE = "pilotzone"

_DELAY_BOUNDS_MS = np.array([int(b * 1000) for b in DELAY_BUCKETS_S], dtype=np.int64)


def record_delays(time_ms: np.ndarray, now_ms: int) -> None:
    """Count each sample's event-to-processing delay into the histogram buckets."""
    delays = now_ms - time_ms
    buckets = np.bincount(
        np.searchsorted(_DELAY_BOUNDS_MS, delays, side="left"), minlength=len(_DELAY_BOUNDS_MS) + 1
    )
    for index in np.flatnonzero(buckets).tolist():
        Metrics.counter(METRICS_NAMESPACE, delay_bucket_counter(index)).inc(int(buckets[index]))
    Metrics.counter(METRICS_NAMESPACE, "delay_ms_sum").inc(int(delays.sum()))
    Metrics.distribution(METRICS_NAMESPACE, "event_time_ms").update(int(time_ms.max()))


def dead_letter_record(
    source: str,
    offset: int,
    reason: str,
    message: str,
    *,
    records: int = 1,
    record: int | None = None,
    vehicle_id: str | None = None,
    sequence_number: int | None = None,
    time_ms: int | None = None,
) -> dict[str, Any]:
    """One dead-letter line: what failed, why, and where to find it in the source.

    A sample's time outside the calendar (year 10000 and later, or near +-2^63 ms) has no RFC 3339
    form: its line then carries ``event_time`` null and the raw value as ``event_time_ms``, so
    the dead letter is still written and still says what was sent.
    """
    event_time, raw_time = None, None
    if time_ms is not None:
        try:
            event_time = rfc3339_ms(time_ms)
        except (OverflowError, ValueError):
            raw_time = time_ms
    line = {
        "reason": reason,
        "message": message,
        "source": source,
        "offset": offset,
        "record": record,
        "records": records,
        "vehicle_id": vehicle_id,
        "sequence_number": sequence_number,
        "event_time": event_time,
    }
    if raw_time is not None:
        line["event_time_ms"] = raw_time
    return line


class ReadTelemetry(beam.PTransform):
    """Files matching a pattern, as (path, bytes) pairs; a pattern that matches nothing is an error."""

    def __init__(self, file_pattern: str) -> None:
        super().__init__()
        self.file_pattern = file_pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Match" >> fileio.MatchFiles(self.file_pattern, empty_match_treatment="DISALLOW")
            | "Open" >> fileio.ReadMatches()
            | "Read" >> beam.Map(lambda readable: (readable.metadata.path, readable.read()))
        )


class DecodeFn(beam.DoFn):
    """Decode one payload, dead-letter what fails, and split the rest by vehicle."""

    def __init__(self) -> None:
        self.decoder: TelemetryDecoder | None = None
        self.read = Metrics.counter(METRICS_NAMESPACE, "records_read")
        self.dead = Metrics.counter(METRICS_NAMESPACE, "records_dead_lettered")

    def setup(self) -> None:
        self.decoder = TelemetryDecoder()

    def process(self, element: tuple[str, bytes]) -> Iterator[Any]:
        source, data = element
        assert self.decoder is not None, "setup() creates the decoder"
        good: list[TelemetryBatch] = []
        for item in self.decoder.decode(data, source):
            if isinstance(item, DeadLetter):
                self.read.inc(item.records)
                yield from self._dead(
                    [
                        dead_letter_record(
                            source, item.offset, item.reason.value, item.message, records=item.records
                        )
                    ],
                    item.records,
                )
                continue
            batch = TelemetryBatch.from_records(item.records, item.first_record)
            self.read.inc(len(batch))
            findings = record_findings(batch)
            unusable = unusable_rows(findings, len(batch))
            if unusable.any():
                yield from self._dead(
                    failing_records(source, item.offset, batch, findings), int(unusable.sum())
                )
                batch = batch.take(~unusable)
            if len(batch):
                good.append(batch)
        if good:
            # Only batches with samples: one whose every sample failed a check has no vehicle.
            batch = good[0] if len(good) == 1 else TelemetryBatch.concat(good)
            record_delays(batch.time_ms, time.time_ns() // 1_000_000)
            yield from split_by_vehicle(batch)

    def _dead(self, records: list[dict[str, Any]], count: int) -> Iterator[Any]:
        """Dead-letter ``records``, which stand for ``count`` telemetry records in all."""
        self.dead.inc(count)
        for record in records:
            Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{record['reason']}").inc(record["records"])
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, record)


def failing_records(
    source: str, offset: int, batch: TelemetryBatch, findings: list[Finding]
) -> list[dict[str, Any]]:
    """One dead letter per unusable row, with its first finding as reason and message."""
    first: dict[int, Finding] = {}
    for finding in findings:
        first.setdefault(finding.row, finding)
    return [
        dead_letter_record(
            source,
            offset,
            finding.check.value,
            finding.message,
            record=int(batch.record_index[row]),
            vehicle_id=shown_id(str(batch.vehicle_id[row])),
            sequence_number=int(batch.sequence_number[row]),
            time_ms=int(batch.time_ms[row]),
        )
        for row, finding in sorted(first.items())
    ]


def split_by_vehicle(batch: TelemetryBatch) -> Iterable[TimestampedValue]:
    """(vehicle id, that vehicle's samples) pairs, stamped with the earliest sample's event time.

    The earliest time is the right element timestamp: it holds the watermark back until the
    chunk's oldest sample has been seen, so no sample in it is counted late by mistake.
    """
    ids = batch.vehicle_id
    if not len(ids):
        return
    if len(set(ids.tolist())) == 1:  # a set, not ids == ids[0]: numpy drops trailing NULs
        # The usual upload: one vehicle's file. Same chunk as below, without sorting or copying.
        yield TimestampedValue((str(ids[0]), batch), int(batch.time_ms.min()) / 1000.0)
        return
    # On the object array itself: a fixed-width str copy would strip trailing NULs and merge ids.
    vehicles, inverse = np.unique(batch.vehicle_id, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.diff(inverse[order])) + 1
    for vehicle, rows in zip(vehicles.tolist(), np.split(order, starts), strict=True):
        chunk = batch.take(rows)
        yield TimestampedValue((vehicle, chunk), int(chunk.time_ms.min()) / 1000.0)


class DecodeTelemetry(beam.PTransform):
    """(path, bytes) → per-vehicle ``TelemetryBatch`` chunks, plus a ``dead_letter`` output."""

    def expand(self, payloads: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return payloads | "Decode" >> beam.ParDo(DecodeFn()).with_outputs(DEAD_LETTER, main="chunks")
