"""DecodeAndZoneBundles: the stream's per-bundle decode puts every record where the replay's does."""

from __future__ import annotations

import math
from typing import Any

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.transforms.bundles import DecodeAndZoneBundles
from pilotzone.pipelines.transforms.decode import DecodeTelemetry
from pilotzone.pipelines.transforms.series import AssignZones
from pilotzone.zones import Zone
from pilotzone.zones.evaluate import ZonedBatch
from tests.factories import confluent_message, container_bytes, track

RUNNER = "FnApiRunner"


def payloads() -> list[tuple[str, bytes]]:
    """One-sample messages of three vehicles (two of them failing a check), a file and junk."""
    messages = track(6, vehicle_id="veh-a") + track(5, vehicle_id="veh-b") + track(4, vehicle_id="veh-c")
    messages[2] = dict(messages[2], speed=math.nan)
    messages[8] = dict(messages[8], current_location_latitude=123.0)
    interleaved = sorted(messages, key=lambda r: (r["sequence_number"], r["vehicle_id"]))
    file_records = track(7, vehicle_id="veh-d")
    file_records[4] = dict(file_records[4], speed=-5.0)
    return [
        *(("kafka://telemetry", confluent_message(record, schema_id=1)) for record in interleaved),
        ("upload.avro", container_bytes(file_records)),
        ("kafka://telemetry", b"junk"),
        ("kafka://telemetry", b""),
    ]


def rows(element: tuple[str, ZonedBatch]) -> list[tuple[Any, ...]]:
    """One tuple per sample: vehicle, time, sequence, record index, zone and areas."""
    vehicle, zoned = element
    batch = zoned.batch
    return [
        (vehicle, int(batch.time_ms[i]), int(batch.sequence_number[i]), int(batch.record_index[i]),
         int(zoned.zone[i]), tuple(zoned.areas_of(i).tolist()), float(batch.speed_kmh[i]))
        for i in range(len(batch))
    ]  # fmt: skip


def vehicle_and_count(counted: Any) -> tuple[str, int]:
    """(row, times found) → (the row's vehicle, times found)."""
    row, times = counted
    return row[0], times


def test_every_record_lands_where_decode_and_assign_zones_put_it(every_kind_zones: list[Zone]) -> None:
    with TestPipeline(runner=RUNNER) as pipeline:
        given = pipeline | beam.Create(payloads())
        bundled = given | "Bundled" >> DecodeAndZoneBundles(every_kind_zones)
        single = given | "Single" >> DecodeTelemetry()
        zoned = single.chunks | AssignZones(every_kind_zones)
        expected_rows = zoned | "RowsSingle" >> beam.FlatMap(rows)
        assert_that(
            (bundled.zoned | "RowsBundled" >> beam.FlatMap(rows), expected_rows)
            | beam.Flatten()
            | beam.combiners.Count.PerElement()
            | beam.Map(vehicle_and_count),
            # every row is found twice (once per path), never once or three times
            equal_to([("veh-a", 2)] * 5 + [("veh-b", 2)] * 4 + [("veh-c", 2)] * 4 + [("veh-d", 2)] * 6),
            label="rows",
        )
        assert_that(
            (bundled.dead_letter, single.dead_letter)
            | "DeadLetters" >> beam.Flatten()
            | "Keyed" >> beam.Map(lambda d: (d["source"], d["reason"], d["record"], d["vehicle_id"]))
            | "CountDead" >> beam.combiners.Count.PerElement(),
            equal_to(
                [
                    (("kafka://telemetry", "nan", 0, "veh-a"), 2),
                    (("kafka://telemetry", "out_of_range", 0, "veh-b"), 2),
                    (("upload.avro", "out_of_range", 4, "veh-d"), 2),
                    (("kafka://telemetry", "not_avro", None, None), 4),
                ]
            ),
            label="dead",
        )


def test_a_bundle_of_messages_becomes_one_chunk_per_vehicle_and_a_cap_splits_it(
    every_kind_zones: list[Zone],
) -> None:
    messages = [
        ("kafka://telemetry", confluent_message(record, schema_id=1))
        for i in range(3)
        for record in track(4, vehicle_id=f"veh-{i}")
    ]
    with TestPipeline(runner=RUNNER) as pipeline:
        # One element holding all messages, flattened inside one stage: one bundle.
        given = pipeline | beam.Create([messages]) | beam.FlatMap(lambda batch: batch)
        whole = given | "Whole" >> DecodeAndZoneBundles(every_kind_zones)
        capped = given | "Capped" >> DecodeAndZoneBundles(every_kind_zones, max_payloads=5)
        assert_that(
            whole.zoned | "SizesWhole" >> beam.MapTuple(lambda vehicle, zoned: (vehicle, len(zoned))),
            equal_to([("veh-0", 4), ("veh-1", 4), ("veh-2", 4)]),
            label="whole",
        )
        # 12 messages in vehicle order, flushed every 5: [0 0 0 0 1] [1 1 1 2 2] [2 2]
        assert_that(
            capped.zoned | "SizesCapped" >> beam.MapTuple(lambda vehicle, zoned: (vehicle, len(zoned))),
            equal_to([("veh-0", 4), ("veh-1", 1), ("veh-1", 3), ("veh-2", 2), ("veh-2", 2)]),
            label="capped",
        )
