"""ReadTelemetry and DecodeTelemetry on Beam: every record decoded or dead-lettered, with a reason."""

from __future__ import annotations

import math
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pilotzone.pipelines.transforms.decode import DecodeTelemetry, ReadTelemetry, dead_letter_record
from pilotzone.schemas.decode import DeadLetter, TelemetryDecoder
from pilotzone.zones.evaluate import rfc3339_ms
from tests.factories import T0_MS, container_bytes, track, write_container

RUNNER = "FnApiRunner"


def test_decode_splits_by_vehicle_and_dead_letters_with_source_and_reason(tmp_path: Path) -> None:
    records = track(10, vehicle_id="veh-a") + track(5, vehicle_id="veh-b")
    records[3] = dict(records[3], speed=math.nan)
    records[12] = dict(records[12], current_location_latitude=123.0)
    good = container_bytes(records)
    truncated = container_bytes(track(400, vehicle_id="veh-c"), sync_interval=2000)[:-50]
    lost = [d.records for d in TelemetryDecoder().decode(truncated, "cut.avro") if isinstance(d, DeadLetter)]
    assert len(lost) == 1
    with TestPipeline(runner=RUNNER) as pipeline:
        out = (
            pipeline
            | beam.Create([("good.avro", good), ("junk.avro", b"junk"), ("cut.avro", truncated)])
            | DecodeTelemetry()
        )
        sizes = out.chunks | beam.MapTuple(lambda vehicle, batch: (vehicle, len(batch)))
        dead = out.dead_letter | beam.Map(lambda d: (d["source"], d["reason"], d["record"], d["vehicle_id"]))
        assert_that(sizes, equal_to([("veh-a", 9), ("veh-b", 4), ("veh-c", 400 - lost[0])]), label="chunks")
        assert_that(
            dead,
            equal_to(
                [
                    ("good.avro", "nan", 3, "veh-a"),
                    ("good.avro", "out_of_range", 12, "veh-b"),
                    ("junk.avro", "not_avro", None, None),
                    ("cut.avro", "truncated", None, None),
                ]
            ),
            label="dead",
        )


def test_dead_letters_are_whole_records_with_reason_message_and_place() -> None:
    records = track(4)
    records[2] = dict(records[2], speed=math.nan)
    good = container_bytes(records)
    # A record's offset is its block's: the first block starts after the header's sync marker.
    first_block = good.index(b"pilotzone-tests!") + len(b"pilotzone-tests!")
    with TestPipeline(runner=RUNNER) as pipeline:
        out = pipeline | beam.Create([("good.avro", good), ("junk.avro", b"junk")]) | DecodeTelemetry()
        assert_that(
            out.dead_letter,
            equal_to(
                [
                    {
                        "reason": "nan",
                        "message": "speed is nan: send a finite number",
                        "source": "good.avro",
                        "offset": first_block,
                        "record": 2,
                        "records": 1,
                        "vehicle_id": "veh-test-0001",
                        "sequence_number": 2,
                        "event_time": "2026-11-23T01:00:02.000Z",
                    },
                    {
                        "reason": "not_avro",
                        "message": "not an Avro container file, Confluent-framed or single-object-encoded "
                        "message (starts with 6a756e6b)",
                        "source": "junk.avro",
                        "offset": 0,
                        "record": None,
                        "records": 1,
                        "vehicle_id": None,
                        "sequence_number": None,
                        "event_time": None,
                    },
                ]
            ),
            label="dead",
        )
        assert_that(
            out.chunks | beam.MapTuple(lambda vehicle, batch: (vehicle, batch.sequence_number.tolist())),
            equal_to([("veh-test-0001", [0, 1, 3])]),
            label="chunks",
        )


def test_chunks_carry_the_earliest_event_time_as_timestamp() -> None:
    data = container_bytes(list(reversed(track(5))))
    with TestPipeline(runner=RUNNER) as pipeline:
        stamps = (pipeline | beam.Create([("f.avro", data)]) | DecodeTelemetry()).chunks | beam.Map(
            lambda _, t=beam.DoFn.TimestampParam: int(t.micros // 1000)
        )
        assert_that(stamps, equal_to([T0_MS]))


def test_read_telemetry_reads_matching_files_and_refuses_an_empty_match(tmp_path: Path) -> None:
    write_container(tmp_path / "a.avro", track(2))
    with TestPipeline(runner=RUNNER) as pipeline:
        names = (
            pipeline
            | ReadTelemetry(str(tmp_path / "*.avro"))
            | beam.MapTuple(lambda p, d: (Path(p).name, d[:4]))
        )
        assert_that(names, equal_to([("a.avro", b"Obj\x01")]))
    with pytest.raises(Exception, match="Empty match for pattern"), TestPipeline(runner=RUNNER) as pipeline:
        _ = pipeline | ReadTelemetry(str(tmp_path / "none-*.avro"))


def test_rfc3339_ms() -> None:
    assert rfc3339_ms(T0_MS + 7) == "2026-11-23T01:00:00.007Z"


def test_a_file_whose_every_sample_fails_a_check_is_all_dead_letters() -> None:
    """Once the empty batch left after the checks failed in zip() and stopped the pipeline."""
    records = track(3, vehicle_id="veh-all-bad")
    records[0] = dict(records[0], current_location_latitude=91.0)
    records[1] = dict(records[1], speed=math.nan)
    records[2] = dict(records[2], vehicle_id="  ")
    good = track(2, vehicle_id="veh-good")
    with TestPipeline(runner=RUNNER) as pipeline:
        out = (
            pipeline
            | beam.Create([("bad.avro", container_bytes(records)), ("good.avro", container_bytes(good))])
            | DecodeTelemetry()
        )
        sizes = out.chunks | beam.MapTuple(lambda vehicle, batch: (vehicle, len(batch)))
        dead = out.dead_letter | beam.Map(lambda d: (d["reason"], d["record"]))
        assert_that(sizes, equal_to([("veh-good", 2)]), label="chunks")
        assert_that(dead, equal_to([("out_of_range", 0), ("nan", 1), ("missing_id", 2)]), label="dead")


@pytest.mark.parametrize(
    ("time_ms", "event_time", "raw"),
    [
        (T0_MS, "2026-11-23T01:00:00.000Z", None),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z", None),
        (253_402_300_800_000, None, 253_402_300_800_000),
        (2**63 - 1, None, 2**63 - 1),
        (-(2**63), None, -(2**63)),
    ],
)
def test_dead_letters_of_times_outside_the_calendar_carry_the_raw_value(
    time_ms: int, event_time: str | None, raw: int | None
) -> None:
    line = dead_letter_record("f.avro", 0, "out_of_range", "m", time_ms=time_ms)
    assert line["event_time"] == event_time
    assert line.get("event_time_ms") == raw
