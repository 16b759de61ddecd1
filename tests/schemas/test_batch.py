"""TelemetryBatch columns: from records, and the binary form batches cross a shuffle in."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.schemas.batch import INVALID_LEVEL, NO_LEVEL, TelemetryBatch
from tests.factories import sample, track


def _assert_same(left: TelemetryBatch, right: TelemetryBatch) -> None:
    for f in fields(TelemetryBatch):
        a, b = getattr(left, f.name), getattr(right, f.name)
        assert a.dtype == b.dtype, f.name
        assert a.tolist() == b.tolist() or np.array_equal(a, b, equal_nan=True), f.name


def _mixed_batch() -> TelemetryBatch:
    """Two vehicles and operators, nulls, NaN, events with and without initiator."""
    records = track(5, vehicle_id="veh-a") + track(3, vehicle_id="veh-b", operator_id="op-b")
    records[1] = {**records[1], "current_location_altitude": None, "active_autonomy_level": None}
    records[2] = {**records[2], "current_location_latitude": float("nan")}
    records[3] = {
        **records[3],
        "events": [
            {"kind": "DISENGAGEMENT", "initiated_by": None},
            {"kind": "REMOTE_TAKEOVER", "initiated_by": "REMOTE_OPERATOR"},
        ],
    }
    records[6] = {**records[6], "events": [{"kind": "DISENGAGEMENT", "initiated_by": "SYSTEM"}]}
    return TelemetryBatch.from_records(records, first_index=7)


def test_from_records_reads_nulls_as_markers_and_events_sparsely() -> None:
    batch = _mixed_batch()
    assert batch.record_index.tolist() == list(range(7, 15))
    assert batch.has_altitude.tolist() == [True, False] + [True] * 6
    assert np.isnan(batch.altitude[1]) and batch.autonomy_level[1] == NO_LEVEL
    assert batch.event_row.tolist() == [3, 3, 6]
    assert batch.event_initiator[0] == NO_LEVEL
    assert batch.vehicle_id.dtype == object and batch.vehicle_id.tolist() == ["veh-a"] * 5 + ["veh-b"] * 3


@pytest.mark.parametrize(
    "batch",
    [
        _mixed_batch(),
        TelemetryBatch.from_records(track(60)),
        TelemetryBatch.from_records([sample(vehicle_id="veh-é-ünïcode")]),
        TelemetryBatch.from_records([]),
    ],
    ids=["mixed", "one-vehicle", "unicode", "empty"],
)
def test_bytes_round_trip_is_exact(batch: TelemetryBatch) -> None:
    again = TelemetryBatch.from_bytes(batch.to_bytes())
    _assert_same(batch, again)
    assert all(getattr(again, f.name).flags.writeable for f in fields(TelemetryBatch))


def test_bytes_of_another_format_version_are_refused() -> None:
    data = bytearray(TelemetryBatch.from_records(track(2)).to_bytes())
    data[0] = 99
    with pytest.raises(ValueError, match="format 99"):
        TelemetryBatch.from_bytes(bytes(data))


def test_levels_outside_int8_become_the_invalid_level_not_an_overflow() -> None:
    levels = [200, 2**31 - 1, -(2**31), -1, 5, None]
    batch = TelemetryBatch.from_records([sample(active_autonomy_level=v) for v in levels])
    assert batch.autonomy_level.tolist() == [INVALID_LEVEL] * 4 + [5, NO_LEVEL]
    without_nulls = TelemetryBatch.from_records([sample(active_autonomy_level=v) for v in levels[:-1]])
    assert without_nulls.autonomy_level.tolist() == [INVALID_LEVEL] * 4 + [5]


def test_ids_differing_by_a_trailing_nul_stay_two_ids_through_the_binary_form() -> None:
    records = track(2, vehicle_id="veh-b") + track(2, vehicle_id="veh-b\x00", operator_id="op\x00\x00")
    batch = TelemetryBatch.from_records(records)
    again = TelemetryBatch.from_bytes(batch.to_bytes())
    assert again.vehicle_id.tolist() == ["veh-b", "veh-b", "veh-b\x00", "veh-b\x00"]
    assert again.operator_id.tolist() == ["op-a", "op-a", "op\x00\x00", "op\x00\x00"]
    _assert_same(again, batch)


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.tuples(st.text(), st.text()), min_size=1, max_size=20))
def test_the_binary_form_round_trips_any_string_exactly(ids: list[tuple[str, str]]) -> None:
    """Any Python string, NULs, control characters and lone surrogates included."""
    records = [sample(vehicle_id=v, operator_id=o, sequence_number=i) for i, (v, o) in enumerate(ids)]
    batch = TelemetryBatch.from_records(records)
    again = TelemetryBatch.from_bytes(batch.to_bytes())
    assert again.vehicle_id.tolist() == [v for v, _ in ids]
    assert again.operator_id.tolist() == [o for _, o in ids]
    _assert_same(again, batch)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_span_is_take_of_that_range(data: st.DataObject) -> None:
    batch = _mixed_batch()
    start = data.draw(st.integers(0, len(batch)))
    end = data.draw(st.integers(start, len(batch)))
    span = batch.span(start, end)
    _assert_same(span, batch.take(np.arange(start, end)))
    span.time_ms[:] = -1  # fresh arrays: the batch it came from is untouched
    assert batch.time_ms.min() > 0


def test_a_span_keeps_the_events_of_its_samples() -> None:
    span = _mixed_batch().span(3, 7)
    assert span.event_row.tolist() == [0, 0, 3]
    assert span.event_kind.tolist() == _mixed_batch().event_kind.tolist()
