"""The stream's decode: a bundle of one-sample messages in, one zoned chunk per vehicle out.

A broker delivers one message per sample. Decoding, checking, timing and placing each message
on its own costs a dozen numpy calls per sample: on Prism at 500 vehicles this per-message
work was about 60% of the Python worker's time, against under 2% for the stateful evaluator.
Here the payloads of a bundle are decoded one by one (fastavro has no batch form) but become one
``TelemetryBatch``, which is checked, counted and placed in zones with one vectorised call
each, and only then split by vehicle.

Every record ends where ``DecodeTelemetry | AssignZones`` puts it (a vehicle chunk or a dead
letter with the same reason, source, offset and record index), with the same counters, so the
stream still equals a replay of the same files. The chunks of one bundle are the same samples
in the same order as that pipeline's per-message chunks, merged per vehicle; the evaluator's
results do not depend on how a vehicle's samples are cut into chunks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pilotzone.pipelines.transforms.decode import (
    DEAD_LETTER,
    METRICS_NAMESPACE,
    dead_letter_record,
    failing_records,
    record_delays,
)
from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.checks import record_findings, unusable_rows
from pilotzone.schemas.decode import DeadLetter, DecodedBlock, TelemetryDecoder
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import ZonedBatch, assign_zones

MAX_PAYLOADS = 5000
"""Payloads decoded together at most: bounds the memory a very large bundle can hold."""


@dataclasses.dataclass
class _Payload:
    source: str
    data: bytes
    timestamp: Timestamp
    window: Any


def zoned_by_vehicle(zoned: ZonedBatch) -> Iterator[tuple[str, ZonedBatch]]:
    """(vehicle id, that vehicle's rows of ``zoned``, in their order) for each vehicle in it."""
    ids = zoned.batch.vehicle_id
    if not len(ids):
        return
    if len(set(ids.tolist())) == 1:  # a set, not ids == ids[0]: numpy drops trailing NULs
        yield str(ids[0]), zoned
        return
    # On the object array itself: a fixed-width str copy would strip trailing NULs and merge ids.
    vehicles, inverse = np.unique(ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.diff(inverse[order])) + 1
    for vehicle, rows in zip(vehicles.tolist(), np.split(order, starts), strict=True):
        yield vehicle, zoned.take(rows)


class _DecodeBundleFn(beam.DoFn):
    """Collect a bundle's payloads; decode, check and place them together when it ends."""

    def __init__(self, zones: Sequence[Zone], max_payloads: int = MAX_PAYLOADS) -> None:
        self.zones = list(zones)
        self.max_payloads = max_payloads
        self.decoder: TelemetryDecoder | None = None
        self.pending: list[_Payload] = []
        self.read = Metrics.counter(METRICS_NAMESPACE, "records_read")
        self.dead = Metrics.counter(METRICS_NAMESPACE, "records_dead_lettered")

    def setup(self) -> None:
        self.decoder = TelemetryDecoder()

    def start_bundle(self) -> None:
        self.pending = []

    def process(
        self,
        element: tuple[str, bytes],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        self.pending.append(_Payload(element[0], element[1], timestamp, window))
        if len(self.pending) >= self.max_payloads:
            yield from self._flush()

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._flush()

    def _flush(self) -> Iterator[Any]:
        payloads, self.pending = self.pending, []
        by_window: dict[Any, list[_Payload]] = {}
        for payload in payloads:
            by_window.setdefault(payload.window, []).append(payload)
        for window, group in by_window.items():
            yield from self._decode(group, window)

    def _decode(self, payloads: list[_Payload], window: Any) -> Iterator[Any]:
        """Dead letters and per-vehicle zoned chunks of ``payloads`` (all of one window)."""
        assert self.decoder is not None, "setup() creates the decoder"
        blocks: list[tuple[DecodedBlock, _Payload]] = []
        for payload in payloads:
            for item in self.decoder.decode(payload.data, payload.source):
                if isinstance(item, DeadLetter):
                    self.read.inc(item.records)
                    record = dead_letter_record(
                        payload.source, item.offset, item.reason.value, item.message, records=item.records
                    )
                    yield from self._dead([record], item.records, payload, window)
                elif item.records:
                    blocks.append((item, payload))
        if not blocks:
            return
        records = [record for block, _ in blocks for record in block.records]
        sizes = np.array([len(block.records) for block, _ in blocks])
        block_of_row = np.repeat(np.arange(len(blocks)), sizes)
        first_of_block = np.array([block.first_record for block, _ in blocks])
        row_in_block = np.arange(len(records)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        batch = dataclasses.replace(
            TelemetryBatch.from_records(records),
            record_index=(first_of_block[block_of_row] + row_in_block).astype(np.int64),
        )
        self.read.inc(len(batch))
        unusable = unusable_rows(record_findings(batch), len(batch))
        if unusable.any():
            for index in np.unique(block_of_row[unusable]).tolist():
                block, payload = blocks[index]
                yield from self._dead_rows(batch.take(block_of_row == index), block, payload, window)
            batch = batch.take(~unusable)
        if not len(batch):
            return
        record_delays(batch.time_ms, time.time_ns() // 1_000_000)
        for vehicle, chunk in zoned_by_vehicle(assign_zones(self.zones, batch)):
            # The earliest sample's event time, as ``split_by_vehicle`` stamps a chunk.
            stamp = Timestamp(micros=int(chunk.batch.time_ms.min()) * 1000)
            yield WindowedValue((vehicle, chunk), stamp, (window,))

    def _dead_rows(
        self, batch: TelemetryBatch, block: DecodedBlock, payload: _Payload, window: Any
    ) -> Iterator[Any]:
        """Dead-letter the unusable rows of one block, as ``DecodeTelemetry`` does."""
        findings = record_findings(batch)
        unusable = unusable_rows(findings, len(batch))
        yield from self._dead(
            failing_records(block.source, block.offset, batch, findings), int(unusable.sum()), payload, window
        )

    def _dead(
        self, records: list[dict[str, Any]], count: int, payload: _Payload, window: Any
    ) -> Iterator[Any]:
        """Dead-letter ``records`` (``count`` telemetry records in all), stamped like their payload."""
        self.dead.inc(count)
        for record in records:
            Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{record['reason']}").inc(record["records"])
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, WindowedValue(record, payload.timestamp, (window,)))


class DecodeAndZoneBundles(beam.PTransform):
    """(source, bytes) → (vehicle, ZonedBatch), one chunk per vehicle per bundle, plus ``dead_letter``."""

    def __init__(self, zones: Sequence[Zone], max_payloads: int = MAX_PAYLOADS) -> None:
        super().__init__()
        self.zones = list(zones)
        self.max_payloads = max_payloads

    def expand(self, payloads: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        decode = _DecodeBundleFn(self.zones, self.max_payloads)
        return payloads | "DecodeBundles" >> beam.ParDo(decode).with_outputs(DEAD_LETTER, main="zoned")
