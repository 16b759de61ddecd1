"""Writer schemas compiled for bound checks: refused shapes, and arrays counted before decoding."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from pilotzone.schemas.contract import TELEMETRY, schema_dict
from pilotzone.schemas.limits import MAX_ARRAY_ITEMS
from pilotzone.schemas.shape import (
    WALK_ABOVE_ITEMS,
    TooManyItemsError,
    WriterSchemaRefusedError,
    json_depth,
    writer_shape,
)
from tests.factories import avro_body, track


def _record(*fields: tuple[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "R", "fields": [{"name": n, "type": t} for n, t in fields]}


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ("int", "is 'int', not a record"),
        ({"type": "array", "items": "int"}, "is 'array', not a record"),
        (_record(("next", ["null", "R"])), "defines R recursively"),
        (_record(("x", "Nowhere")), "uses the unknown type 'Nowhere'"),
        (_record(("x", [])), "has an empty union"),
        (_record(("x", {"type": "fixed", "name": "F"})), "has a fixed type without a valid size"),
    ],
)
def test_schemas_that_are_no_telemetry_contract_are_refused(schema: Any, why: str) -> None:
    with pytest.raises(WriterSchemaRefusedError) as refused:
        writer_shape(schema)
    assert str(refused.value) == why


def test_nesting_past_the_bound_is_refused_without_recursion() -> None:
    deep = '{"type": "array", "items": ' * 100_000 + '"int"' + "}" * 100_000
    assert json_depth(deep.encode()) == 100_000
    assert json_depth(b'{"doc": "[[[[ {{{ \\" ]]"}') == 1
    nested: Any = "int"
    for _ in range(40):
        nested = {"type": "array", "items": nested}
    with pytest.raises(WriterSchemaRefusedError, match="nests deeper than 32 levels"):
        writer_shape(_record(("x", nested)))


def test_the_contract_compiles_with_its_smallest_record_and_event() -> None:
    shape = writer_shape(schema_dict(TELEMETRY))
    assert (shape.min_record_bytes, shape.min_item_bytes) == (37, 2)
    body = b"".join(avro_body(r) for r in track(50))
    shape.check_items(body, 50)
    # 50 typical records leave too few spare bytes for a 1,025-item array.
    assert not shape.may_exceed_items(len(body), 50)
    assert shape.may_exceed_items(len(body) + 2 * MAX_ARRAY_ITEMS, 50)
    # Walked only with room for more than WALK_ABOVE_ITEMS two-byte events.
    assert not shape.needs_walk(50 * 37 + 2 * WALK_ABOVE_ITEMS, 50)
    assert shape.needs_walk(50 * 37 + 2 * WALK_ABOVE_ITEMS + 2, 50)


def _encode(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


def test_an_array_of_null_declaring_two_to_the_forty_items_is_refused_at_once() -> None:
    schema = _record(("id", "string"), ("junk", {"type": "array", "items": "null"}))
    shape = writer_shape(schema)
    assert shape.min_item_bytes == 0 and shape.may_exceed_items(10, 1)
    body = _encode(schema, {"id": "a", "junk": []})[:-1] + b"\x80\x80\x80\x80\x80\x80\x02" + b"\x00"
    with pytest.raises(TooManyItemsError, match="declares 4398046511104 or more items"):
        shape.check_items(body, 1)


def test_arrays_and_maps_are_summed_over_their_blocks() -> None:
    schema = _record(("tags", {"type": "map", "values": {"type": "array", "items": "int"}}))
    shape = writer_shape(schema)
    fine = _encode(schema, {"tags": {"a": list(range(MAX_ARRAY_ITEMS))}})
    shape.check_items(fine, 1)
    too_long = _encode(schema, {"tags": {"a": list(range(MAX_ARRAY_ITEMS + 1))}})
    with pytest.raises(TooManyItemsError, match="an array declares 1025 or more items"):
        shape.check_items(too_long, 1)
    many_keys = _encode(schema, {"tags": {str(i): [] for i in range(MAX_ARRAY_ITEMS + 1)}})
    with pytest.raises(TooManyItemsError, match="a map declares"):
        shape.check_items(many_keys, 1)


def test_malformed_bytes_end_the_walk_quietly_for_the_decoder_to_report() -> None:
    shape = writer_shape(schema_dict(TELEMETRY))
    body = avro_body(track(1)[0])
    shape.check_items(body[:10], 1)
    shape.check_items(b"\xff" * 30, 3)
    shape.check_items(json.dumps({"not": "avro"}).encode(), 2)
