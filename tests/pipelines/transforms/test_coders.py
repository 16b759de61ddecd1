"""TelemetryBatchCoder: what crosses a shuffle comes out exactly as it went in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pilotzone.pipelines.transforms.coders import TelemetryBatchCoder
from pilotzone.schemas.batch import TelemetryBatch
from tests.factories import sample

CODER = TelemetryBatchCoder()


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.tuples(st.text(), st.text()), min_size=0, max_size=20), times=st.data())
def test_any_ids_and_times_round_trip_and_keep_every_column_aligned(
    ids: list[tuple[str, str]], times: st.DataObject
) -> None:
    """Ids with NULs once lost bytes here and shifted every later column of the batch."""
    stamps = [times.draw(st.integers(-(2**63), 2**63 - 1)) for _ in ids]
    records = [
        sample(vehicle_id=v, operator_id=o, sequence_number=i, current_location_timestamp=t)
        for i, ((v, o), t) in enumerate(zip(ids, stamps, strict=True))
    ]
    batch = TelemetryBatch.from_records(records)
    again = CODER.decode(CODER.encode(batch))
    assert again.vehicle_id.tolist() == [v for v, _ in ids]
    assert again.operator_id.tolist() == [o for _, o in ids]
    assert again.time_ms.tolist() == stamps
    assert again.sequence_number.tolist() == list(range(len(ids)))
