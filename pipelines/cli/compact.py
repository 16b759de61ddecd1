"""``pilotzone compact``: merge a folder of uploads into a few large container files.

For operators who keep every upload for audit and replay them often: the merged parts replay
several times faster, and nothing is lost (see ``pilotzone.pipelines.compaction``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pilotzone.pipelines.compaction import PART_BYTES, CompactionError, compact

EXIT_OK = 0
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Register ``compact`` on the top-level sub-command parsers."""
    parser = subparsers.add_parser(
        "compact",
        help="merge uploaded telemetry files into a few large container files, losslessly",
        description="Copy the blocks of every *.avro file under IN_DIR, in path order, into large "
        "container files in --out, with a sidecar per part naming each block's source file and "
        "offset; files that cannot be merged are copied whole. The same input gives the same bytes.",
    )
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR", help="folder of uploaded .avro files")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT_DIR", help="folder for the parts")
    parser.add_argument(
        "--part-mb",
        type=int,
        default=PART_BYTES // (1024 * 1024),
        metavar="MB",
        help=f"close a part at this many MiB ({PART_BYTES // (1024 * 1024)})",
    )
    parser.set_defaults(func=compact_command)


def compact_command(args: argparse.Namespace) -> int:
    if args.part_mb < 1:
        print("pilotzone compact: --part-mb must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        summary = compact(args.in_dir, args.out, args.part_mb * 1024 * 1024)
    except CompactionError as exc:
        print(f"pilotzone compact: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"compacted {summary.files_merged} of {summary.files_in} files ({summary.records:,} records) "
        f"into {len(summary.parts)} parts in {args.out}; {summary.files_verbatim} copied verbatim"
    )
    return EXIT_OK
