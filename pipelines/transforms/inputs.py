"""Which files a replay reads: the ``--input`` glob as a user means it, and a clear error when
it matches nothing.

Beam's file matching turns ``**`` into "any characters" and ``*`` into "any characters but
``/``", so ``dir/**/*.avro`` needs at least one folder between ``dir/`` and the file and misses
the files lying directly in ``dir/``, which every shell with ``globstar``, Python's ``glob`` and
Java's glob syntax include. ``pattern_variants`` rewrites a pattern into the Beam patterns that
together match what the user expects:

* ``**/*`` becomes ``**``: "any folders, then any name" is "any path", exactly;
* any other ``**/`` (``dir/**/veh-*.avro``) gives two patterns, with and without it.

A pattern that matches nothing is an unusable argument (``InputPatternError``), reported
before the pipeline is built, not a traceback from inside the runner.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

_SEPARATE_DOUBLE_STAR = re.compile(r"(?:(?<=/)|^)\*\*/(?!\*)")
"""A ``**/`` that is a whole path segment and is not followed by a name starting with ``*``."""


_GLOB = re.compile(r"[*?\[]")


class InputPatternError(ValueError):
    """The ``--input`` pattern is unusable: it matches nothing, or the file system refuses it."""


def pattern_variants(pattern: str) -> list[str]:
    """The Beam patterns that together match ``pattern`` as a user reads it (module docstring).

    A relative pattern that starts with a wildcard (``*.avro``, ``**/*.avro``) is read from the
    current folder: Beam lists nothing for it, so it gets a leading ``./``.
    """
    if (
        "://" not in pattern
        and not pattern.startswith("/")
        and _GLOB.search(pattern.split("/", maxsplit=1)[0])
    ):
        pattern = "./" + pattern
    pattern = re.sub(r"(?:(?<=/)|^)(?:\*\*/){2,}", "**/", pattern)  # a/**/**/b is a/**/b
    collapsed = re.sub(r"(?:(?<=/)|^)\*\*/\*(?!\*)", "**", pattern)
    pieces = _SEPARATE_DOUBLE_STAR.split(collapsed)
    variants = []
    for kept in itertools.product(("**/", ""), repeat=len(pieces) - 1):
        variant = pieces[0] + "".join(k + piece for k, piece in zip(kept, pieces[1:], strict=True))
        if variant and variant not in variants:
            variants.append(variant)
    return variants or [pattern]


def match_inputs(pattern: str) -> list[FileMetadata]:
    """Every file ``pattern`` matches (each once, sorted by path); raises ``InputPatternError``."""
    variants = pattern_variants(pattern)
    try:
        results = FileSystems.match(variants)
    except (OSError, ValueError) as exc:  # BeamIOError is an OSError
        raise InputPatternError(f"--input {pattern!r} cannot be matched: {exc}") from exc
    found = {metadata.path: metadata for result in results for metadata in result.metadata_list}
    if not _GLOB.search(pattern) and "://" not in pattern and os.path.isdir(pattern):
        raise InputPatternError(
            f"--input {pattern!r} is a folder: give the files, e.g. '{pattern.rstrip('/')}/**/*.avro'"
        )
    if not found:
        raise InputPatternError(
            f"--input {pattern!r} matches no file: check the folder and the pattern "
            "(quote it, so the shell does not expand it; '**' matches any folders, none included)"
        )
    return [found[path] for path in sorted(found)]


class ReadInputs(beam.PTransform):
    """The files of a pattern (``pattern_variants``), each once, as (path, bytes) pairs."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        variants = pattern_variants(self.pattern)
        matched = (
            pbegin
            | "Patterns" >> beam.Create(variants)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
        )
        if len(variants) > 1 and sum(variant.count("**") for variant in variants[:1]) > 1:
            # Two or more '**' make variants that can overlap (a/**/b/**/c and a/b/**/c both
            # match a/b/b/c): keep one of each path. A single '**/' gives two disjoint patterns
            # (the same path cannot have both depths), which need no shuffle.
            matched = (
                matched
                | "ByPath" >> beam.Map(lambda metadata: (metadata.path, metadata))
                | "GroupPaths" >> beam.GroupByKey()
                | "OnePerPath" >> beam.FlatMap(_first)
            )
        return (
            matched
            | "Open" >> fileio.ReadMatches()
            | "Read" >> beam.Map(lambda readable: (readable.metadata.path, readable.read()))
        )


def _first(grouped: tuple[str, list[FileMetadata]]) -> Iterator[FileMetadata]:
    yield next(iter(grouped[1]))
