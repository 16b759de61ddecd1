"""Bounds on what one upload may make the monitor do, so a hostile or broken file costs bounded memory and time.

Every bound is far above what a real vehicle sends and far below what hurts the monitor: a vehicle
sends about one sample a second, a few events per sample and ids of a few dozen characters; an
upload is one vehicle's minute (~60 records) and a compacted container file a few hundred thousand.
Input beyond a bound is dead-lettered with its own reason, never truncated silently, so the
maker learns which bound it crossed. The values are part of the contract and documented in the
README; decoders (the reference one and the columnar fast path) read them from here only.
"""

from __future__ import annotations

MAX_RECORDS_PER_BLOCK = 1_000_000
"""Records one Avro block may declare; a block declaring more is refused before decoding."""

MAX_BLOCK_BYTES = 64 * 1024 * 1024
"""Bytes of one Avro block after decompression (a deflate bomb stops here)."""

MAX_ARRAY_ITEMS = 1_024
"""Items one array value in a record may declare (guards zero-byte items such as ``array<null>``)."""

MAX_EVENTS_PER_SAMPLE = 32
"""Events one sample may carry; more is not a vehicle reporting, it is a counter being inflated."""

MAX_ID_LENGTH = 128
"""Characters of ``vehicle_id`` or ``operator_id``; ids are pseudonyms, not payloads."""
