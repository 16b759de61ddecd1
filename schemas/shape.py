"""What a writer schema lets one block's bytes declare, checked before fastavro builds any record.

fastavro trusts the counts in the bytes: an array of ``null`` items declaring 2^40 items is
counted through item by item (zero bytes each, so for ever), and an ``events`` array of a
million two-byte items becomes a million dicts before any check sees it. This module compiles a
writer schema into a small walker that reads one block's binary records the way a decoder
would, skipping values instead of building them, and stops at the first array or map declaring
more than ``MAX_ARRAY_ITEMS`` items. Most blocks never need the walk: from the block's size and
the smallest possible encoding of a record, ``WriterShape.may_exceed_items`` proves that no
array in it can be long enough to matter (``WriterShape.needs_walk``).

Writer schemas are refused (``WriterSchemaRefusedError``) when they are not a record, nest deeper than
``MAX_SCHEMA_DEPTH`` or define a recursive type: none of these is a telemetry contract, and each
would let data nest without bound inside recursive parsers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pilotzone.schemas.limits import MAX_ARRAY_ITEMS, MAX_SCHEMA_DEPTH

Skip = Callable[[bytes, int], int]
"""Skips one encoded value starting at a position and returns the position after it."""

_FIXED_WIDTH = {"null": 0, "boolean": 1, "float": 4, "double": 8}
_VARINT = frozenset({"int", "long"})
_BYTES = frozenset({"string", "bytes"})


WALK_ABOVE_ITEMS = 65_536
"""Blocks with room for more array items than this are walked before decoding (see ``needs_walk``):
at two bytes an event, a block of a few hundred ordinary records never is, and what fastavro may
build unwalked is at most ~15 MB of event objects."""


class WriterSchemaRefusedError(ValueError):
    """A writer schema no telemetry file may have (why is the message)."""


class TooManyItemsError(ValueError):
    """An array or map declared more items than ``MAX_ARRAY_ITEMS``."""


class _MalformedError(ValueError):
    """The bytes end or break before the walk is done; decoding reports it in its own words."""


def json_depth(text: bytes) -> int:
    """How deeply objects and lists nest in JSON ``text``, without parsing it recursively."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _long(data: bytes, position: int) -> tuple[int, int]:
    """Avro's zig-zag varint at ``position``: (value, next position)."""
    if position < len(data) and data[position] < 0x80:
        byte = data[position]
        return (byte >> 1) ^ -(byte & 1), position + 1
    shift = accumulator = 0
    while True:
        if position >= len(data) or shift > 63:
            raise _MalformedError("varint runs past the block")
        byte = data[position]
        position += 1
        accumulator |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (accumulator >> 1) ^ -(accumulator & 1), position
        shift += 7


def _skip_long(data: bytes, position: int) -> int:
    end = position + 10
    while data[position] & 0x80:
        position += 1
        if position == end:
            raise _MalformedError("varint longer than 10 bytes")
    return position + 1


def _skip_bytes(data: bytes, position: int) -> int:
    size, position = _long(data, position)
    if size < 0:
        raise _MalformedError("negative length")
    return position + size


def _fixed(width: int) -> Skip:
    return lambda data, position: position + width


def _record(skips: list[Skip]) -> Skip:
    def skip(data: bytes, position: int) -> int:
        for field in skips:
            position = field(data, position)
        return position

    return skip


def _union(branches: list[Skip]) -> Skip:
    def skip(data: bytes, position: int) -> int:
        index, position = _long(data, position)
        if not 0 <= index < len(branches):
            raise _MalformedError("union index out of range")
        return branches[index](data, position)

    return skip


def _repeated(item: Skip, kind: str) -> Skip:
    def skip(data: bytes, position: int) -> int:
        total = 0
        while True:
            count, position = _long(data, position)
            if count == 0:
                return position
            if count < 0:
                count = -count
                position = _skip_long(data, position)  # the block's byte size
            total += count
            if total > MAX_ARRAY_ITEMS:
                raise TooManyItemsError(f"{kind} declares {total} or more items (at most {MAX_ARRAY_ITEMS})")
            for _ in range(count):
                position = item(data, position)
                if position > len(data):
                    raise _MalformedError(f"{kind}'s item runs past the block")

    return skip


def _key_and(value: Skip) -> Skip:
    return lambda data, position: value(data, _skip_bytes(data, position))


@dataclass(frozen=True)
class _Compiled:
    skip: Skip
    min_bytes: int
    min_item_bytes: int | None
    """Smallest encoding of one item over every array and map inside (None: there are none)."""


def _smaller(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


class _Compiler:
    """Turns a schema's JSON into skip functions, refusing recursion and excessive depth."""

    def __init__(self, namespace: str = "") -> None:
        self.named: dict[str, _Compiled] = {}
        self.namespace = namespace

    def compile(self, node: Any, depth: int, namespace: str) -> _Compiled:
        if depth > MAX_SCHEMA_DEPTH:
            raise WriterSchemaRefusedError(f"nests deeper than {MAX_SCHEMA_DEPTH} levels")
        if isinstance(node, str):
            return self._named_or_primitive(node, namespace)
        if isinstance(node, list):
            branches = [self.compile(branch, depth + 1, namespace) for branch in node]
            if not branches:
                raise WriterSchemaRefusedError("has an empty union")
            return _Compiled(
                _union([b.skip for b in branches]),
                1 + min(b.min_bytes for b in branches),
                _min_items(branches),
            )
        if not isinstance(node, dict):
            raise WriterSchemaRefusedError(
                f"has a type that is neither a name, a union nor an object: {node!r:.40}"
            )
        kind = node.get("type")
        if kind in ("record", "error"):
            return self._record(node, depth, namespace)
        if kind == "enum":
            self._name(node, namespace)
            return self._define(node, namespace, _Compiled(_skip_long, 1, None))
        if kind == "fixed":
            size = node.get("size")
            if not isinstance(size, int) or size < 0:
                raise WriterSchemaRefusedError("has a fixed type without a valid size")
            return self._define(node, namespace, _Compiled(_fixed(size), size, None))
        if kind == "array":
            items = self.compile(node.get("items"), depth + 1, namespace)
            return _Compiled(
                _repeated(items.skip, "an array"), 1, _smaller(items.min_bytes, items.min_item_bytes)
            )
        if kind == "map":
            values = self.compile(node.get("values"), depth + 1, namespace)
            item_bytes = 1 + values.min_bytes
            return _Compiled(
                _repeated(_key_and(values.skip), "a map"), 1, _smaller(item_bytes, values.min_item_bytes)
            )
        return self.compile(kind, depth + 1, namespace)

    def _name(self, node: dict[str, Any], namespace: str) -> str:
        name = node.get("name")
        if not isinstance(name, str):
            raise WriterSchemaRefusedError(f"has a {node.get('type')} without a name")
        if "." in name:
            return name
        space = node.get("namespace", namespace)
        return f"{space}.{name}" if space else name

    def _define(self, node: dict[str, Any], namespace: str, compiled: _Compiled) -> _Compiled:
        self.named[self._name(node, namespace)] = compiled
        return compiled

    def _named_or_primitive(self, name: str, namespace: str) -> _Compiled:
        if name in _FIXED_WIDTH:
            return _Compiled(_fixed(_FIXED_WIDTH[name]), _FIXED_WIDTH[name], None)
        if name in _VARINT:
            return _Compiled(_skip_long, 1, None)
        if name in _BYTES:
            return _Compiled(_skip_bytes, 1, None)
        for candidate in (f"{namespace}.{name}" if namespace and "." not in name else name, name):
            if candidate in self.named:
                found = self.named[candidate]
                if found is _IN_PROGRESS:
                    raise WriterSchemaRefusedError(f"defines {candidate} recursively")
                return found
        raise WriterSchemaRefusedError(f"uses the unknown type {name[:60]!r}")

    def _record(self, node: dict[str, Any], depth: int, namespace: str) -> _Compiled:
        full = self._name(node, namespace)
        inner = full.rpartition(".")[0]
        self.named[full] = _IN_PROGRESS
        fields = node.get("fields")
        if not isinstance(fields, list):
            raise WriterSchemaRefusedError(f"record {full[:60]} has no field list")
        compiled: list[_Compiled] = []
        for field in fields:
            if not isinstance(field, dict) or "type" not in field:
                raise WriterSchemaRefusedError(f"record {full[:60]} has a field without a type")
            compiled.append(self.compile(field["type"], depth + 1, inner))
        result = _Compiled(
            _record([c.skip for c in compiled]), sum(c.min_bytes for c in compiled), _min_items(compiled)
        )
        self.named[full] = result
        return result


_IN_PROGRESS = _Compiled(_fixed(0), 0, None)
"""Marks a record whose fields are being compiled: meeting its name again means recursion."""


def _min_items(parts: list[_Compiled]) -> int | None:
    found: int | None = None
    for part in parts:
        found = _smaller(found, part.min_item_bytes)
    return found


@dataclass(frozen=True)
class WriterShape:
    """A writer schema compiled for bound checks on its encoded records."""

    skip_record: Skip
    min_record_bytes: int
    min_item_bytes: int | None

    def may_exceed_items(self, block_bytes: int, records: int, items: int = MAX_ARRAY_ITEMS) -> bool:
        """Whether some array in a block of this size could hold more than ``items`` items.

        Every record takes at least ``min_record_bytes``; the bytes beyond that are all an
        array's items could use, at ``min_item_bytes`` each. Zero-byte items (``null``, empty
        records) can be any number, so those schemas always may.
        """
        if self.min_item_bytes is None:
            return False
        if self.min_item_bytes == 0:
            return True
        spare = block_bytes - records * self.min_record_bytes
        return spare // self.min_item_bytes > items

    def needs_walk(self, block_bytes: int, records: int) -> bool:
        """Whether a block must be walked before fastavro may build its records.

        Walking costs about as much as decoding, so it is done only where decoding first could
        hurt: zero-byte items (a count of 2^40 is a hang) or room for more than
        ``WALK_ABOVE_ITEMS`` items. Below that, fastavro builds at most that many items, and the
        decoder refuses a record whose ``events`` exceed ``MAX_ARRAY_ITEMS`` after building it.
        """
        return self.may_exceed_items(block_bytes, records, WALK_ABOVE_ITEMS)

    def check_items(self, block: bytes, records: int) -> None:
        """Raise ``TooManyItemsError`` if an array or map in the block's records is too long.

        Malformed bytes end the walk quietly: the decoder meets the same bytes and reports
        them; it cannot get past the point where the walk stopped to a longer array.
        """
        position = 0
        try:
            for _ in range(records):
                position = self.skip_record(block, position)
                if position > len(block):
                    return
        except (_MalformedError, IndexError):
            return


def writer_shape(schema: Any) -> WriterShape:
    """Compile a writer schema (parsed JSON); raises ``WriterSchemaRefusedError`` for non-contracts."""
    if not isinstance(schema, dict) or schema.get("type") not in ("record", "error"):
        kind = schema.get("type") if isinstance(schema, dict) else schema
        raise WriterSchemaRefusedError(f"is {str(kind)[:60]!r}, not a record")
    compiled = _Compiler().compile(schema, 1, "")
    return WriterShape(compiled.skip, compiled.min_bytes, compiled.min_item_bytes)
