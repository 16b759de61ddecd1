"""Fuzzing the decode step: the decoder, the columnar batch, the record checks and the coder.

Two harnesses, both driving the pipeline's own decode step (``DecodeFn``), which must never
raise, must account for every record it reads (passed on or dead-lettered, each dead letter
standing for at least one record) and must pass on only samples that meet the contract:

* **bytes**: seed files (good containers in several codecs and block sizes, framed messages and
  the hostile corpus) mutated by byte flips, insertions, deletions, splices and truncation;
* **records**: arbitrary values of every field's Avro type (any string, any long, NaN and
  infinities, any int level, up to 40 events), written as a real container.

The suite runs a bounded budget (``PILOTZONE_FUZZ_EXAMPLES``, 150 per harness; both are ``slow``,
a few seconds each, so CI runs them and the fast loop does not). Maintainers run
a longer campaign with a larger budget, for example
``PILOTZONE_FUZZ_EXAMPLES=20000 pytest -p no:cacheprovider -s tests/schemas/test_fuzz.py``;
the module prints how many inputs each harness tried.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotzone.pipelines.transforms.coders import TelemetryBatchCoder
from pilotzone.pipelines.transforms.decode import DecodeFn
from pilotzone.schemas.batch import DRIVING_MODES, EVENT_KINDS, INITIATORS, VEHICLE_CLASSES, TelemetryBatch
from pilotzone.schemas.checks import id_problem
from pilotzone.schemas.limits import MAX_EVENTS_PER_SAMPLE
from tests.factories import confluent_message, container_bytes, sample, track

BUDGET = int(os.environ.get("PILOTZONE_FUZZ_EXAMPLES", "150"))
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "telemetry"
TRIED: Counter[str] = Counter()

SEEDS = [
    container_bytes(track(40, events=[{"kind": "HARSH_BRAKING", "initiated_by": None}]), codec="null", sync_interval=500),
    container_bytes(track(60), codec="deflate", sync_interval=800),
    container_bytes(track(30), codec="snappy"),
    container_bytes(track(30), codec="bzip2", sync_interval=300),
    confluent_message(sample(), 1),
    *(
        path.read_bytes()
        for path in sorted(CORPUS.glob("*.avro"))
        if path.stat().st_size < 20_000
    ),
]  # fmt: skip
"""Seeds small enough to mutate quickly; the bomb and the deep schema are covered by the corpus tests."""


@pytest.fixture(scope="module", autouse=True)
def report_budget() -> Iterator[None]:
    yield
    print(f"\nfuzz: {dict(TRIED)} inputs tried")


def decode_step(data: bytes) -> tuple[int, list[TelemetryBatch], Counter[str]]:
    """Run the decode step on one payload: (records read, batches passed on, dead records per reason)."""
    step = DecodeFn()
    step.setup()
    batches: list[TelemetryBatch] = []
    dead: Counter[str] = Counter()
    for output in step.process(("fuzz.avro", data)):
        value = getattr(output, "value", output)
        if isinstance(value, dict):
            assert value["records"] >= 1 and value["message"], value
            dead[value["reason"]] += value["records"]
        else:
            vehicle, batch = value
            assert len(batch) and set(batch.vehicle_id.tolist()) == {vehicle}
            batches.append(batch)
    read = sum(len(b) for b in batches) + sum(dead.values())
    return read, batches, dead


def assert_contract_met(batches: list[TelemetryBatch]) -> None:
    """What passes the decode step meets the contract, and crosses a shuffle unchanged."""
    coder = TelemetryBatchCoder()
    for batch in batches:
        assert all(id_problem(v) is None for v in batch.vehicle_id.tolist() + batch.operator_id.tolist())
        assert not (batch.autonomy_level > 5).any()
        if len(batch.event_row):
            assert max(Counter(batch.event_row.tolist()).values()) <= MAX_EVENTS_PER_SAMPLE
        again = coder.decode(coder.encode(batch))
        assert again.vehicle_id.tolist() == batch.vehicle_id.tolist()
        assert again.operator_id.tolist() == batch.operator_id.tolist()
        assert again.time_ms.tolist() == batch.time_ms.tolist()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "splice", "varint"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "splice":
            other = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start : start + draw(st.integers(1, 400))]
        else:  # a huge or negative Avro long where a count or a length may be
            data[at:at] = draw(
                st.sampled_from([b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f", b"\x01", b"\x80\x80\x80\x80\x10"])
            )
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@pytest.mark.slow
@settings(max_examples=BUDGET, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_mutated_payloads_never_raise_and_every_record_is_accounted_for(data: bytes) -> None:
    TRIED["bytes"] += 1
    read, batches, _ = decode_step(data)
    assert read >= 1
    assert_contract_met(batches)


ANY_TEXT = st.text(max_size=12) | st.sampled_from(["", " ", "veh-b\x00", "\u202e", "x" * 200, "\ud800"])
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    base = sample(
        vehicle_id=draw(ANY_TEXT | st.just("veh-fuzz")),
        operator_id=draw(ANY_TEXT | st.just("op-fuzz")),
        vehicle_class=draw(st.sampled_from(VEHICLE_CLASSES)),
        sequence_number=draw(st.integers(-(2**63), 2**63 - 1)),
        current_location_timestamp=draw(st.integers(-(2**63), 2**63 - 1)),
        current_location_latitude=draw(FLOATS),
        current_location_longitude=draw(FLOATS),
        current_location_altitude=draw(st.none() | FLOATS),
        current_location_heading=draw(st.floats(width=32)),
        current_location_horizontal_accuracy=draw(st.floats(width=32)),
        speed=draw(st.floats(width=32)),
        driving_mode=draw(st.sampled_from(DRIVING_MODES)),
        active_autonomy_level=draw(st.none() | st.integers(-(2**31), 2**31 - 1)),
        events=[
            {"kind": kind, "initiated_by": by}
            for kind, by in draw(
                st.lists(
                    st.tuples(st.sampled_from(EVENT_KINDS), st.none() | st.sampled_from(INITIATORS)),
                    max_size=40,
                )
            )
        ],
    )
    return base


def _encodable(record: dict[str, Any]) -> bool:
    """Avro strings are UTF-8: a lone surrogate cannot be written by any producer."""
    try:
        record["vehicle_id"].encode()
        record["operator_id"].encode()
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.slow
@settings(max_examples=BUDGET, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(records(), min_size=1, max_size=12))
def test_arbitrary_field_values_are_evaluated_or_dead_lettered_never_raised(
    batch: list[dict[str, Any]],
) -> None:
    TRIED["records"] += 1
    batch = [r for r in batch if _encodable(r)]
    if not batch:
        return
    read, batches, _ = decode_step(container_bytes(batch, codec="null"))
    assert read == len(batch)
    assert_contract_met(batches)
    passed = {(b.vehicle_id[i], int(b.sequence_number[i])) for b in batches for i in range(len(b))}
    for record in batch:
        if (record["vehicle_id"], record["sequence_number"]) in passed:
            assert math.isfinite(record["current_location_latitude"])
            assert -90 <= record["current_location_latitude"] <= 90
