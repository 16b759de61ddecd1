"""The emergency-fence part of ``pilotzone zones explain --fences PATH``.

The zone rules and the fences are explained side by side because a vehicle at a point is
bound by both; the fences' answer (``zones.fences.explain``) is kept here so ``cli.zones``
stays about zone configs. Bad fence files are refused as ``fences check`` refuses them, with
the file and the field, but with exit 2 as ``run`` and ``stream`` do: the fences are an
argument of this command, not the thing it checks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any, TextIO

from pilotzone.zones.fences import Fence, load_fences
from pilotzone.zones.fences.explain import FenceAtPoint, FenceState
from pilotzone.zones.problems import ZoneConfigError

EXIT_USAGE = 2

ENTERED_LATER = "immediately"
"""The exit deadline of a vehicle that entered after the fence took effect (``--json``)."""


def add_fence_argument(parser: argparse.ArgumentParser) -> None:
    """``--fences PATH`` (file or folder, repeatable) on ``zones explain``."""
    parser.add_argument(
        "--fences",
        type=Path,
        action="append",
        metavar="PATH",
        help="emergency fence file or folder (repeatable): also list the fences covering the point, "
        "in force at --at or not",
    )


def load_explain_fences(paths: list[Path], geometry_root: Path | None) -> list[Fence] | int:
    """The fences of ``paths``, or exit 2 after printing what to fix to stderr."""
    for path in paths:
        if not path.exists():
            print(f"pilotzone zones explain: --fences {path} does not exist: name a fence file or folder",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
    try:
        return load_fences(paths, geometry_root=geometry_root)
    except ZoneConfigError as exc:
        print(f"pilotzone: the fences have problems:\n{exc}", file=sys.stderr)
        return EXIT_USAGE


def fences_json(found: list[FenceAtPoint], tz: dt.tzinfo) -> list[dict[str, Any]]:
    """The fences covering the point as plain data (``--json``)."""
    return [_fence_json(item, tz) for item in found]


def print_fences(found: list[FenceAtPoint], at: dt.datetime, vehicle_class: str, out: TextIO) -> None:
    """The fences covering the point, as text lines under the zone rules."""
    tz = at.tzinfo
    assert tz is not None
    print(f"  emergency fences covering the point at {at:%Y-%m-%d %H:%M:%S %Z}:", file=out)
    if not found:
        print("    none", file=out)
    for item in found:
        document = item.fence.document
        head = f"    [{document.severity}] {item.fence.fence_id} ({item.fence.digest}) {_when(item, tz)}"
        print(f"{head}, for {', '.join(document.vehicle_classes)}: {document.reason}", file=out)
        if not item.binds:
            print(f"      does not bind {vehicle_class}", file=out)
        elif item.state is FenceState.IN_FORCE:
            left = item.seconds_left
            standing = f"{left:g} s left" if left >= 0 else f"overdue by {-left:g} s"
            print(
                f"      inside when it took effect: out by {_local(item.deadline_inside_at_start_ms, tz)} "
                f"({standing}); entered after: in breach at once",
                file=out,
            )


def _when(item: FenceAtPoint, tz: dt.tzinfo) -> str:
    fence = item.fence
    until = "open-ended" if fence.document.until is None else f"until {_local(fence.end_ms, tz)}"
    if item.state is FenceState.IN_FORCE:
        return f"in force since {_local(fence.start_ms, tz)}, {until}"
    if item.state is FenceState.PENDING:
        return f"not yet in force: from {_local(fence.start_ms, tz)}, {until}"
    return f"no longer in force: ended {_local(fence.end_ms, tz)}"


def _fence_json(item: FenceAtPoint, tz: dt.tzinfo) -> dict[str, Any]:
    fence = item.fence
    document = fence.document
    deadline = None
    if item.binds and item.state is FenceState.IN_FORCE:
        deadline = {
            "inside_at_start": _local(item.deadline_inside_at_start_ms, tz),
            "seconds_left": item.seconds_left,
            "entered_later": ENTERED_LATER,
        }
    return {
        "id": fence.fence_id,
        "digest": fence.digest,
        "pilot_zone": document.pilot_zone,
        "state": str(item.state),
        "severity": str(document.severity),
        "reason": document.reason,
        "vehicle_classes": [str(c) for c in document.vehicle_classes],
        "binds_vehicle_class": item.binds,
        "effective_from": _local(fence.start_ms, tz),
        "until": None if document.until is None else _local(fence.end_ms, tz),
        "exit_within_s": document.exit_within_s,
        "exit_deadline": deadline,
    }


def _local(ms: int, tz: dt.tzinfo) -> str:
    """An instant in the explained zone's local time, to the second or the millisecond."""
    when = dt.datetime.fromtimestamp(ms // 1000, tz) + dt.timedelta(milliseconds=ms % 1000)
    return when.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


__all__ = ["ENTERED_LATER", "add_fence_argument", "fences_json", "load_explain_fences", "print_fences"]
