"""Bounds on what one upload may make the monitor do, so a hostile or broken file costs bounded memory and time.

Every bound is far above what a real vehicle sends and far below what hurts the monitor: a vehicle
sends about one sample a second, a few events per sample and ids of a few dozen characters; an
upload is one vehicle's minute (~60 records) and a compacted container file a few hundred thousand.
Avro writers cut blocks at 16-64 KB by default (fastavro 16,000 bytes, Java 64,000), a few
hundred records each. Input beyond a bound is dead-lettered with its own reason, never truncated
silently, so the maker learns which bound it crossed. The values are part of the contract and
documented in the README; decoders (the reference one and the columnar fast path) read them from
here only.
"""

from __future__ import annotations

MAX_RECORDS_PER_BLOCK = 1_000_000
"""Records one Avro block may declare; a block declaring more is refused before decoding.

A real block holds a few hundred; a million leaves room for writers configured with huge
blocks. A refused block counts as one record read, never as the count it claims, so a
block declaring 2^62 records cannot inflate (or, summed, overflow) the run's counters."""

MAX_BLOCK_BYTES = 16 * 1024 * 1024
"""Bytes of one Avro block after decompression (a deflate bomb stops here).

Decompression is streamed and stops one byte past this bound, so a 1 MB file that would
inflate to 1 GiB costs at most this much memory, not the gigabyte. 16 MiB is 250 times the
largest block a default writer cuts, and at the smallest telemetry record (37 bytes) holds about
450,000 records, under ``MAX_RECORDS_PER_BLOCK``."""

MAX_ARRAY_ITEMS = 1_024
"""Items one array (or map) value in a record may declare.

Checked on the encoded bytes before records are built wherever a block has room for a harmful
array (``schemas.shape``), so an ``array<null>`` declaring 2^40 zero-byte items is refused at once
instead of being counted through and a huge ``events`` array never becomes millions of Python
objects; in ordinary blocks ``events`` is counted as each record is decoded."""

MAX_EVENTS_PER_SAMPLE = 32
"""Events one sample may carry; more is not a vehicle reporting, it is a counter being inflated.

A sample covers about a second; a vehicle reports at most a handful of events in it."""

MAX_ID_LENGTH = 128
"""Characters of ``vehicle_id`` or ``operator_id``; ids are pseudonyms, not payloads."""

MAX_SCHEMA_DEPTH = 32
"""Nesting of a writer schema's JSON (objects and lists); the contract's schema nests 8 deep.

A writer schema nested thousands of levels deep is refused as ``schema_mismatch`` before any
recursive parser sees it."""
