"""What the decoder hands on: decoded blocks, dead letters, and the reasons and framings they name.

Kept apart from the decoder so the container reader (``schemas.container``) and the decoder
(``schemas.decode``) share these values without importing each other.
"""

from __future__ import annotations

import json
import lzma
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException, UnknownType

# What fastavro raises on corrupt bytes, found by fuzzing the decoder (tests/schemas).
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    MemoryError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    SchemaResolutionError,
    SchemaParseException,
    UnknownType,
)
HEADER_ERRORS: tuple[type[BaseException], ...] = (*DECODE_ERRORS, json.JSONDecodeError, AttributeError)
"""What reading a container header can raise: bad bytes, or metadata that is not schema JSON."""


class Framing(StrEnum):
    """How a payload is framed."""

    CONTAINER = "avro-container"
    CONFLUENT = "confluent"
    SINGLE_OBJECT = "single-object"
    UNKNOWN = "unknown"


class Reason(StrEnum):
    """Why something became a dead letter; stable codes, used as metric label values."""

    NOT_AVRO = "not_avro"
    TRUNCATED = "truncated"
    CORRUPT_BLOCK = "corrupt_block"
    UNDECODABLE = "undecodable"
    SCHEMA_MISMATCH = "schema_mismatch"
    UNKNOWN_SCHEMA = "unknown_schema"
    TRAILING_BYTES = "trailing_bytes"
    TOO_MANY_RECORDS = "too_many_records"
    """A block declares more records than ``MAX_RECORDS_PER_BLOCK`` (counted as one record)."""
    BLOCK_TOO_LARGE = "block_too_large"
    """A block inflates past ``MAX_BLOCK_BYTES``."""
    TOO_MANY_ITEMS = "too_many_items"
    """An array or map in a record declares more than ``MAX_ARRAY_ITEMS`` items."""


@dataclass(frozen=True)
class DecodedBlock:
    """Records decoded from one container block or one framed message.

    ``first_record`` is the position of the first record among all records of the source, so
    every record can be traced back as ``source``, ``offset`` (of its block) and index.
    """

    source: str
    offset: int
    first_record: int
    records: list[dict[str, Any]]
    framing: Framing


@dataclass(frozen=True)
class DeadLetter:
    """Bytes that could not be decoded: where, why, and how many records they held if known."""

    source: str
    offset: int
    reason: Reason
    message: str
    records: int = 1


def describe_error(exc: BaseException) -> str:
    text = str(exc) or "no detail"
    return f"{type(exc).__name__}: {text}"[:300]
