"""Record and stream checks of the contract, on exact findings."""

from __future__ import annotations

import math

import numpy as np

from pilotzone.schemas.batch import TelemetryBatch
from pilotzone.schemas.checks import (
    Check,
    id_problem,
    record_findings,
    shown_id,
    stream_findings,
    unusable_rows,
)
from pilotzone.schemas.limits import MAX_EVENTS_PER_SAMPLE, MAX_ID_LENGTH
from tests.factories import sample, track


def _record(records: list[dict]) -> list[tuple[int, Check]]:
    return [(f.row, f.check) for f in record_findings(TelemetryBatch.from_records(records))]


def _stream(records: list[dict]) -> list[tuple[int, Check]]:
    return [(f.row, f.check) for f in stream_findings(TelemetryBatch.from_records(records))]


def test_a_valid_track_has_no_findings() -> None:
    records = track(50)
    assert _record(records) == []
    assert _stream(records) == []


def test_nan_and_infinity_are_found_per_field() -> None:
    records = [
        sample(current_location_latitude=math.nan),
        sample(speed=math.inf),
        sample(current_location_altitude=math.nan),
        sample(current_location_altitude=None),
    ]
    assert _record(records) == [(0, Check.NAN), (1, Check.NAN), (2, Check.NAN)]


def test_values_out_of_range() -> None:
    records = [
        sample(current_location_latitude=91.0),
        sample(current_location_longitude=-180.5),
        sample(current_location_heading=361.0),
        sample(current_location_horizontal_accuracy=-1.0),
        sample(speed=-0.1),
        sample(current_location_timestamp=5),
        sample(current_location_altitude=12_000.0),
        sample(active_autonomy_level=7),
        sample(sequence_number=-1),
        sample(current_location_heading=360.0, speed=0.0, current_location_latitude=-90.0),
    ]
    assert _record(records) == [(i, Check.OUT_OF_RANGE) for i in range(9)]


def test_message_names_the_field_value_and_range() -> None:
    (finding,) = record_findings(TelemetryBatch.from_records([sample(current_location_latitude=135.2)]))
    assert finding.message == "current_location_latitude = 135.2 is outside -90..90 degrees"


def test_empty_ids_and_autonomous_without_level() -> None:
    records = [sample(vehicle_id=" "), sample(operator_id=""), sample(active_autonomy_level=None)]
    assert _record(records) == [(0, Check.MISSING_ID), (1, Check.MISSING_ID), (2, Check.INCONSISTENT_MODE)]
    manual = sample(driving_mode="MANUAL", active_autonomy_level=None)
    assert _record([manual]) == []


def test_unusable_rows_mask() -> None:
    batch = TelemetryBatch.from_records([sample(), sample(speed=math.nan), sample()])
    assert unusable_rows(record_findings(batch), len(batch)).tolist() == [False, True, False]


def test_time_going_backwards_in_arrival_order() -> None:
    records = track(5)
    records[3], records[2] = records[2], records[3]
    assert _stream(records) == [(3, Check.TIME_BACKWARDS)]


def test_duplicate_and_missing_sequence_numbers() -> None:
    records = track(10)
    duplicate = dict(records[4])
    del records[6:8]
    records.append(duplicate)
    findings = stream_findings(TelemetryBatch.from_records(records))
    assert [(f.row, f.check) for f in findings] == [
        (6, Check.MISSING_SEQUENCE),
        (8, Check.DUPLICATE_SEQUENCE),
        (8, Check.TIME_BACKWARDS),
    ]
    assert findings[0].message == "sequence_number 6-7 missing (2 samples)"


def test_implausible_jump_uses_time_and_accuracy() -> None:
    records = track(4)
    records[2] = {**records[2], "current_location_longitude": records[2]["current_location_longitude"] + 0.05}
    assert _stream(records) == [(2, Check.IMPLAUSIBLE_JUMP), (3, Check.IMPLAUSIBLE_JUMP)]
    # The same 4.5 km is plausible when the fixes are five minutes apart.
    start = records[0]["current_location_timestamp"]
    slow = [dict(r, current_location_timestamp=start + 300_000 * i) for i, r in enumerate(records)]
    assert _stream(slow) == []


def test_vehicles_are_checked_separately_and_skipped_rows_ignored() -> None:
    a = track(3, vehicle_id="veh-a")
    b = track(3, vehicle_id="veh-b")
    interleaved = [a[0], b[0], a[1], b[1], a[2], b[2]]
    assert _stream(interleaved) == []
    broken = [*interleaved, dict(a[2], current_location_latitude=math.nan, sequence_number=3)]
    batch = TelemetryBatch.from_records(broken)
    skip = unusable_rows(record_findings(batch), len(batch))
    assert stream_findings(batch, skip=skip) == []


def test_take_and_concat_keep_events_with_their_samples() -> None:
    records = track(4)
    records[1] = dict(records[1], events=[{"kind": "DISENGAGEMENT", "initiated_by": "SYSTEM"}])
    records[3] = dict(records[3], events=[{"kind": "COLLISION", "initiated_by": None}])
    batch = TelemetryBatch.from_records(records)
    picked = batch.take(np.array([3, 1]))
    assert picked.sequence_number.tolist() == [3, 1]
    assert picked.event_row.tolist() == [0, 1]
    assert picked.event_kind.tolist() == [batch.event_kind[1], batch.event_kind[0]]
    both = TelemetryBatch.concat([batch, batch])
    assert both.event_row.tolist() == [1, 3, 5, 7]


def test_ids_with_control_or_unprintable_characters_are_invalid() -> None:
    records = [
        sample(vehicle_id="veh-b\x00"),
        sample(operator_id="op\nnext"),
        sample(vehicle_id="veh-\u202eb"),
        sample(vehicle_id="veh-\u00a0b"),
        sample(vehicle_id="광주-차량 1"),
        sample(vehicle_id="v" * MAX_ID_LENGTH),
        sample(vehicle_id="v" * (MAX_ID_LENGTH + 1)),
        sample(operator_id="o" * 1_000_000),
    ]
    assert _record(records) == [
        (0, Check.INVALID_ID),
        (1, Check.INVALID_ID),
        (2, Check.INVALID_ID),
        (3, Check.INVALID_ID),
        (6, Check.ID_TOO_LONG),
        (7, Check.ID_TOO_LONG),
    ]
    messages = [f.message for f in record_findings(TelemetryBatch.from_records(records))]
    assert messages[0] == "vehicle_id 'veh-b\\x00' has control or unprintable characters: send printable text"
    assert messages[5] == "operator_id has 1000000 characters (at most 128): send the pseudonym only"
    assert {id_problem(""), id_problem(" \t")} == {Check.MISSING_ID}


def test_more_events_than_the_bound_in_one_sample() -> None:
    event = {"kind": "DISENGAGEMENT", "initiated_by": "SYSTEM"}
    records = [
        sample(events=[event] * MAX_EVENTS_PER_SAMPLE),
        sample(events=[event] * (MAX_EVENTS_PER_SAMPLE + 1)),
        sample(events=[event] * 3),
    ]
    findings = record_findings(TelemetryBatch.from_records(records))
    assert [(f.row, f.check, f.message) for f in findings] == [
        (1, Check.TOO_MANY_EVENTS, "33 events in one sample (at most 32): send each event once")
    ]


def test_sae_level_consistency_and_levels_outside_int8() -> None:
    records = [
        sample(driving_mode="MANUAL", active_autonomy_level=4),
        sample(driving_mode="MANUAL", active_autonomy_level=2),
        sample(driving_mode="MANUAL", active_autonomy_level=None),
        sample(driving_mode="AUTONOMOUS", active_autonomy_level=200),
        sample(driving_mode="AUTONOMOUS", active_autonomy_level=2**31 - 1),
        sample(driving_mode="MANUAL", active_autonomy_level=-1),
    ]
    assert _record(records) == [
        (0, Check.INCONSISTENT_MODE),
        (3, Check.OUT_OF_RANGE),
        (4, Check.OUT_OF_RANGE),
        (5, Check.OUT_OF_RANGE),
    ]


def test_stream_checks_keep_ids_differing_by_a_nul_apart() -> None:
    records = track(3, vehicle_id="veh-b") + track(3, vehicle_id="veh-b\x00")
    assert [f for f in _stream(records) if f[1] is Check.DUPLICATE_SEQUENCE] == []


def test_time_going_backwards_across_the_whole_int64_range_is_not_wrapped() -> None:
    records = track(3)
    records[1] = {**records[1], "current_location_timestamp": 2**63 - 1}
    records[2] = {**records[2], "current_location_timestamp": -(2**63)}
    findings = stream_findings(TelemetryBatch.from_records(records))
    backwards = [(f.row, f.message) for f in findings if f.check is Check.TIME_BACKWARDS]
    assert backwards == [
        (
            2,
            f"timestamp {-(2**63)} is {2**64 - 1} ms before the previous sample's: send samples in time order",
        )
    ]


def test_ids_are_shown_short_and_escaped() -> None:
    assert shown_id("veh-1") == "veh-1"
    assert shown_id("광주-1") == "광주-1"
    assert shown_id("veh-b\x00") == "veh-b\\x00"
    assert shown_id("veh-\u202eb") == "veh-\\u202eb"
    assert shown_id("v" * 1_000_000) == "v" * MAX_ID_LENGTH + "..."


def test_a_bad_id_in_a_later_run_or_alone_in_a_run_is_found() -> None:
    """The quick all-valid pass looks at the first id of each run of equal ids: a bad id that
    starts a run, or interrupts one, must still fail it."""
    records = track(6, vehicle_id="veh-a") + track(3, vehicle_id="veh-\x00") + track(4, vehicle_id="veh-a")
    assert _record(records) == [(6, Check.INVALID_ID), (7, Check.INVALID_ID), (8, Check.INVALID_ID)]
    records = track(5, vehicle_id="veh-a")
    records[3]["operator_id"] = ""
    assert _record(records) == [(3, Check.MISSING_ID)]
    assert _record(track(1, vehicle_id="\u202e")) == [(0, Check.INVALID_ID)]
