"""Bounds on what one zone config may make the loader do, so a hostile or careless config costs bounded time and memory.

A zone config is written by a zone operator, reviewed by a regulator and loaded by every
monitor process and by CI (``pilotzone zones check``) on machines that hold other data. A
config that is wrong must fail fast with a clear problem, never exhaust memory, hang, crash
with a traceback or read files it has no business with. Every bound is far above what a
real zone needs (the shipped Gwangju config is 16 kB with 16 areas and 24 rules; the
benchmark zone, 1,016 areas, is the largest we run) and far below what hurts the machine.
The values are documented in the README; the loader reads them from here only.
"""

from __future__ import annotations

MAX_CONFIG_BYTES = 1024 * 1024
"""Bytes of one YAML config file. The benchmark zone, 1,016 areas inline, is 461 kB and loads
in half a second; a file at the bound written as densely as YAML allows (short numbers in
flow lists) takes about 5 s, most of it in PyYAML's Python composer and constructor.
Geometry beyond that belongs in a GeoJSON file (``file:``), which parses far faster."""

MAX_YAML_DEPTH = 64
"""Nesting depth of collections in a config. The deepest real value is a MultiPolygon inside
an area inside ``areas`` (about 8 levels); a 100,000-deep ``[[[...`` would otherwise crash the
recursive YAML composer with RecursionError."""

MAX_YAML_NODES = 500_000
"""Values (scalars, lists, mappings) a config may expand to, counting every alias use as a
copy of what it refers to. Aliases are legal YAML, but every later step (schema validation,
duplicate-key check, version hash) walks the expanded document, so a 342-byte "billion
laughs" alias bomb (9 aliases of 9 aliases ... of 9 strings, 387 million values) would cost
minutes of CPU. The benchmark zone expands to 33,155 values; a file at ``MAX_CONFIG_BYTES``
written without aliases holds at most about this many."""

MAX_GEOMETRY_FILE_BYTES = 64 * 1024 * 1024
"""Bytes of one GeoJSON file referenced with ``file:``. The shipped municipal subset is 44 kB;
Korea's whole set of administrative-dong boundaries at full resolution is a few tens of MB.
At most this many bytes plus one are read, so ``/dev/zero``-like sources cannot exhaust memory."""

MAX_GEOJSON_DEPTH = 32
"""Nesting depth of a GeoJSON file's lists and mappings. A FeatureCollection of MultiPolygons
needs 8; geometry libraries walk coordinates recursively, so a few hundred levels of ``[``
would otherwise end in RecursionError."""

MAX_GEOMETRY_BYTES_PER_LOAD = 256 * 1024 * 1024
"""Bytes of all distinct GeoJSON files one load may read (each file is read once per load,
however many areas use it): bounds the memory of configs that each name another large file."""

MAX_RULES = 2_000
"""Rules in one config: about 100 times the shipped configs. Rules are compiled into
per-area candidate tables and checked pairwise for precedence ties."""

MAX_AREAS = 10_000
"""Areas in one config: ten times the benchmark zone's 1,016 pick-up bays."""

MAX_TIE_WARNINGS = 20
"""Precedence ties listed one by one; beyond this one summary line says how many rules tie.
A config with thousands of tied rules needs one fix (explicit priorities), not thousands of lines."""


MAX_VERSIONS_PER_ZONE = 100
"""Versions of one zone a config history may hold: a year of weekly changes and then some.
Every version is a compiled zone in memory, so an unbounded history is an unbounded cost."""


__all__ = [
    "MAX_AREAS",
    "MAX_CONFIG_BYTES",
    "MAX_GEOJSON_DEPTH",
    "MAX_GEOMETRY_BYTES_PER_LOAD",
    "MAX_GEOMETRY_FILE_BYTES",
    "MAX_RULES",
    "MAX_TIE_WARNINGS",
    "MAX_VERSIONS_PER_ZONE",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
]
