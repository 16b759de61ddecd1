"""The ``pilotzone`` command: one entry point for vehicle makers, zone operators and CI.

Each sub-command lives in its own module with an ``add_parser(subparsers)`` function that
registers its arguments and sets ``func``; this module only assembles them. Heavy imports
(Apache Beam) happen inside the sub-command that needs them, so ``pilotzone validate`` starts
fast on a maker's laptop.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from pilotzone.pipelines.cli import (
    broker,
    compact,
    dashboards,
    fences,
    incidents,
    manifest,
    publish,
    report,
    run,
    simulate,
    stream,
    validate,
    zones,
)

SIGPIPE_STATUS = 128 + signal.SIGPIPE
"""The exit status when whoever reads the output closes it early, as a shell reports for a
command killed by SIGPIPE (141)."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="pilotzone",
        description="Monitor autonomous vehicles in pilot zones: validate telemetry, check zone configs, "
        "simulate fleets and run the compliance pipeline.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate.add_parser(subparsers)
    zones.add_parser(subparsers)
    fences.add_parser(subparsers)
    simulate.add_parser(subparsers)
    run.add_parser(subparsers)
    stream.add_parser(subparsers)
    dashboards.add_parser(subparsers)
    broker.add_parser(subparsers)
    publish.add_parser(subparsers)
    compact.add_parser(subparsers)
    report.add_parser(subparsers)
    manifest.add_parser(subparsers)
    incidents.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command and return its exit status (0 clean, 1 findings, 2 usage error)."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``pilotzone incidents list | head``): stop quietly, with the
        # status a Unix tool killed by SIGPIPE has, instead of a traceback; the interpreter's
        # own flush at exit then writes to /dev/null rather than raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_STATUS
    return status


if __name__ == "__main__":
    sys.exit(main())
