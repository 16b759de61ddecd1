"""``pilotzone fences check|publish``: validate an emergency fence, and hand it to a running monitor.

``publish`` writes the fence into the folder the monitor reads (``run --fences DIR``; a
folder stream picks fences up from it) in one atomic step: the monitor sees the old folder
or the new one, never half a file (``pipelines.atomic``; its temporaries are hidden files,
which the fence loader skips). The published document is self-contained: a ``file:``
polygon is written inline, so the document still means the same wherever it is read, and
its digest (what incidents carry as ``config_version``) is the one ``check`` printed.
``publish --to kafka://HOST:PORT/TOPIC`` sends the same document, after the same checks, to a
compacted topic that a Kafka-fed monitor reads (``pipelines.live.fence_topic``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import shapely.geometry

from pilotzone.pipelines.atomic import write_bytes_atomically
from pilotzone.zones.evaluate.records import rfc3339_ms
from pilotzone.zones.fences import Fence
from pilotzone.zones.fences.loader import fence_files, load_fence, load_fences
from pilotzone.zones.fences.versions import conflict_message, version_conflict
from pilotzone.zones.problems import ZoneConfigError


def add_parser(subparsers: Any) -> None:
    """Register ``fences check`` and ``fences publish``."""
    parser = subparsers.add_parser(
        "fences",
        help="check emergency fences and publish them to a running monitor",
        description="Emergency fences: no-go polygons with a deadline to leave (see the README).",
    )
    commands = parser.add_subparsers(dest="fences_command", required=True)
    check = commands.add_parser(
        "check",
        help="validate fence files",
        description="Print what each fence says, or every problem (exit 1).",
    )
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="fence file or folder")
    check.add_argument(
        "--geometry-root", type=Path, metavar="DIR", help="folder that file: polygons must lie under"
    )
    check.set_defaults(func=check_command)
    publish = commands.add_parser(
        "publish",
        help="validate a fence and hand it to a monitor: a watched folder or a compacted Kafka topic",
        description="Validate FILE (exit 2 with every problem), then write it as DIR/<id>.<digest>.json in "
        "one step (an amendment, with a later effective_from, is a new file beside the version it replaces), "
        "or send it to kafka://HOST:PORT/TOPIC "
        "(created compacted if missing) and wait for the broker's ack.",
    )
    publish.add_argument("file", type=Path, metavar="FILE", help="the fence document (YAML or JSON)")
    publish.add_argument(
        "--to",
        required=True,
        metavar="DIR|kafka://HOST:PORT/TOPIC",
        help="the monitor's fence folder, or its compacted fence topic",
    )
    publish.add_argument(
        "--geometry-root", type=Path, metavar="DIR", help="folder that file: polygons must lie under"
    )
    publish.set_defaults(func=publish_command)


def describe(fence: Fence) -> str:
    """One line per fence, as ``check`` and ``publish`` print it."""
    document = fence.document
    until = "open-ended" if document.until is None else f"until {document.until.isoformat()}"
    if fence.superseded_ms is not None and fence.superseded_ms == fence.end_ms:
        until = f"until {rfc3339_ms(fence.end_ms)} (a later version takes over)"
    classes = ", ".join(document.vehicle_classes)
    return (
        f"{fence.fence_id} ({fence.digest}): {document.pilot_zone}, from {document.effective_from.isoformat()} "
        f"{until}, exit within {document.exit_within_s:g} s, {document.severity} for {classes}: {document.reason}"
    )


def version_file_name(fence: Fence) -> str:
    """``<id>.<digest>.json``: one file per version, so an amendment published to a folder
    leaves the version it replaces beside it, and a replay of the folder reproduces the time
    before the amendment as the stream judged it; the same document again is the same file."""
    return f"{fence.fence_id}.{fence.digest.removeprefix('sha256:')}.json"


def published_document(fence: Fence) -> bytes:
    """The fence as a self-contained JSON document (polygon inline, keys sorted)."""
    data = fence.document.model_dump(mode="json", exclude={"polygon"})
    data["polygon"] = shapely.geometry.mapping(fence.geometry)
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def check_command(args: argparse.Namespace) -> int:
    """``pilotzone fences check``: 0 and a line per fence, or 1 and every problem."""
    try:
        fences = load_fences(args.paths, geometry_root=args.geometry_root)
    except ZoneConfigError as exc:
        print(f"pilotzone fences check: problems:\n{exc}", file=sys.stderr)
        return 1
    # By id, then version: an amended fence reads as its history.
    for fence in sorted(fences, key=lambda fence: (fence.fence_id, fence.start_ms)):
        print(describe(fence))
    return 0


def publish_command(args: argparse.Namespace) -> int:
    """``pilotzone fences publish``: 0 once written, 2 for a bad fence or destination."""
    if args.to.startswith("kafka://"):
        return _publish_to_topic(args)
    args.to = Path(args.to)
    if not args.to.is_dir():
        print(f"pilotzone fences publish: --to {args.to} is not a folder: create it, or name the monitor's one",
              file=sys.stderr)  # fmt: skip
        return 2
    fence = _publishable(args)
    if fence is None:
        return 2
    target = args.to / version_file_name(fence)
    conflict = version_conflict(fence, _fences_in(args.to))
    if conflict is not None:
        print(
            f"pilotzone fences publish: not published: {conflict_message(fence, conflict)}", file=sys.stderr
        )
        return 2
    try:
        write_bytes_atomically(target, published_document(fence))
    except OSError as exc:
        print(f"pilotzone fences publish: cannot write {target}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"published {target}: {describe(fence)}")
    return 0


def _publishable(args: argparse.Namespace) -> Fence | None:
    """The fence to publish, or None after printing every problem: checked the same way
    whatever the destination, before anything is written or sent."""
    try:
        return load_fence(args.file, geometry_root=args.geometry_root)
    except ZoneConfigError as exc:
        print(f"pilotzone fences publish: not published, fix these first:\n{exc}", file=sys.stderr)
        return None


def _fences_in(folder: Path) -> list[Fence]:
    """The valid fences already in the folder, each on its own (a bad one elsewhere does not
    stop a publication, and is not this fence's to fix)."""
    found: list[Fence] = []
    for file in fence_files(folder):
        try:
            found.append(load_fence(file))
        except ZoneConfigError:
            continue
    return found


def _publish_to_topic(args: argparse.Namespace) -> int:
    """``publish --to kafka://...``: the folder publication's checks, then one acknowledged record
    (``pipelines.live.fence_topic``); 2 for a bad fence, address or topic, 1 without an ack."""
    from pilotzone.pipelines.live.fence_topic import (
        FenceTopic,
        FenceTopicError,
        ensure_compacted_topic,
        publish_fence,
    )

    try:
        where = FenceTopic.parse(args.to)
    except FenceTopicError as exc:
        print(f"pilotzone fences publish: --to {exc}", file=sys.stderr)
        return 2
    fence = _publishable(args)
    if fence is None:
        return 2
    try:
        created = ensure_compacted_topic(where)
    except FenceTopicError as exc:
        print(f"pilotzone fences publish: not published: {exc}", file=sys.stderr)
        return 2
    try:
        published = publish_fence(where, fence, published_document(fence), created_topic=created)
    except FenceTopicError as exc:
        print(f"pilotzone fences publish: not published: {exc}", file=sys.stderr)
        return 1
    topic = f"{where} (created, compacted)" if published.created_topic else str(where)
    print(f"published to {topic} partition {published.partition} offset {published.offset}, "
          f"key {published.key}: {describe(fence)}")  # fmt: skip
    return 0
