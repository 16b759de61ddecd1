"""The run manifest: the audit record that says a run's outputs are complete and what made them.

A replay removes the manifest of an earlier run in its output folder before it writes
anything, writes every output atomically (``pilotzone.pipelines.atomic``), and writes
``run-manifest.json`` last, once every output is whole. So a folder either has a manifest whose
digests match its files, or it is the trace of a run that did not finish (killed, crashed,
out of disk), whatever mix of old and new files it holds. ``verify_run`` tells which.

What the manifest holds, all of it deterministic for the same command over the same files
except ``started`` and ``finished``:

* ``inputs``: the pattern as given, and every file the pipeline read, with its size and the
  SHA-256 of the bytes it decoded (computed inside the pipeline from those very bytes, so a
  file replaced after the run does not match); paths as the dead letters' ``source`` names them;
* ``zones``: each zone's id, config file and config version (the content hash incidents carry);
* ``counts``: records read, evaluated and dead-lettered, dead letters by reason (the runner's
  counters, the figures ``pilotzone_records_read_total`` and ``pilotzone_dead_letters_total``
  export);
* ``outputs``: every file the run wrote, relative to the manifest's folder, with size and SHA-256;
* ``software``: the versions of pilotzone, Apache Beam, Python and the libraries that decode
  and evaluate.

No Apache Beam here: verifying a run needs none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pilotzone.pipelines.atomic import write_text_atomically
from pilotzone.pipelines.digests import FileDigest
from pilotzone.zones import Zone

MANIFEST_FILE = "run-manifest.json"
FORMAT = "pilotzone-run-manifest/1"
DISTRIBUTIONS = (
    "pilotzone-monitor",
    "apache-beam",
    "fastavro",
    "numpy",
    "shapely",
    "pydantic",
    "prometheus-client",
)
"""Whose versions the manifest records: ours, the runner's, and what decodes and evaluates."""

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """The SHA-256 (hex) of a file, read in chunks so that size does not matter."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def remove_stale_manifest(manifest: Path) -> None:
    """Remove an earlier run's manifest, before a new run writes anything beside it."""
    manifest.unlink(missing_ok=True)


def software_versions() -> dict[str, str]:
    """Versions of Python and of ``DISTRIBUTIONS`` as installed (``unknown`` if one is not)."""
    versions = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def run_counts(counters: Mapping[str, int]) -> dict[str, Any]:
    """Records read, evaluated and dead-lettered, and dead letters by reason, from the counters."""
    prefix = "dead_letters_"
    return {
        "records_read": counters.get("records_read", 0),
        "records_evaluated": counters.get("records_decoded", 0),
        "records_dead_lettered": counters.get("records_dead_lettered", 0),
        "dead_letters_by_reason": {
            name.removeprefix(prefix): count
            for name, count in sorted(counters.items())
            if name.startswith(prefix) and count
        },
    }


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` (with ``..`` if need be), as the manifest names outputs."""
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class RunRecord:
    """What a finished run hands over to be written down."""

    command: str
    input_pattern: str
    inputs: Sequence[FileDigest]
    zones: Sequence[Zone]
    counters: Mapping[str, int]
    outputs: Sequence[Path]
    started: dt.datetime
    finished: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    details: Mapping[str, Any] = field(default_factory=dict)
    """What else the kind of run has to say (a stream: its source and how it stopped)."""


def build_manifest(record: RunRecord, manifest: Path) -> dict[str, Any]:
    """The manifest of ``record`` for a manifest file at ``manifest`` (outputs relative to its folder)."""
    folder = manifest.parent
    outputs = sorted(
        (
            FileDigest(_relative(path, folder), path.stat().st_size, sha256_of(path))
            for path in record.outputs
        ),
        key=lambda digest: digest.path,
    )
    return {
        **record.details,
        "format": FORMAT,
        "command": record.command,
        "started": _utc(record.started),
        "finished": _utc(record.finished),
        "software": software_versions(),
        "inputs": {
            "pattern": record.input_pattern,
            "files": [digest.to_json() for digest in record.inputs],
            "bytes": sum(digest.bytes for digest in record.inputs),
        },
        "zones": [
            {"pilot_zone": zone.zone_id, "config_version": zone.version, "source": str(zone.source)}
            for zone in sorted(record.zones, key=lambda zone: zone.zone_id)
        ],
        "counts": run_counts(record.counters),
        "outputs": [digest.to_json() for digest in outputs],
    }


def write_manifest(record: RunRecord, manifest: Path) -> dict[str, Any]:
    """Write the manifest (atomically; call it after every output is written) and return it."""
    content = build_manifest(record, manifest)
    write_text_atomically(manifest, json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return content


# -- verification ---------------------------------------------------------------------------


@dataclass
class Verification:
    """What ``verify_run`` found: nothing (0), differences (1), or a manifest it cannot use (2)."""

    manifest: Path
    problems: list[str] = field(default_factory=list)
    unusable: str | None = None
    checked: int = 0

    @property
    def status(self) -> int:
        """The exit status: 0 the outputs are the manifest's, 1 they differ, 2 nothing to check."""
        if self.unusable is not None:
            return 2
        return 1 if self.problems else 0


def verify_run(target: Path, inputs_root: Path | None = None) -> Verification:
    """Check a run folder (or a manifest file) against its files.

    Every output must exist with the recorded size and SHA-256, and the counts must add up
    (read = evaluated + dead-lettered, reasons sum to dead-lettered). With ``inputs_root``,
    the inputs are checked too, their recorded paths taken from that folder (where the run
    was started; absolute paths stay absolute).
    """
    manifest = target / MANIFEST_FILE if target.is_dir() else target
    result = Verification(manifest)
    if not target.exists():
        result.unusable = f"{target} does not exist"
        return result
    if not manifest.exists():
        result.problems.append(
            f"incomplete: {manifest.parent} has no {MANIFEST_FILE}; the run that wrote there did not "
            "finish (or has not run), so its outputs cannot be trusted: run it again"
        )
        return result
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.unusable = f"{manifest} is not a readable run manifest: {exc}"
        return result
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        result.unusable = f"{manifest} is not a run manifest of format {FORMAT!r}"
        return result
    try:
        result.problems += _count_problems(content["counts"])
        result.problems += _file_problems(content["outputs"], manifest.parent, "output")
        if inputs_root is not None:
            result.problems += _file_problems(content["inputs"]["files"], inputs_root, "input")
    except (KeyError, TypeError, AttributeError) as exc:
        result.unusable = f"{manifest} lacks a field a run manifest has: {exc}"
        return result
    result.checked = len(content["outputs"]) + (len(content["inputs"]["files"]) if inputs_root else 0)
    return result


def _count_problems(counts: Mapping[str, Any]) -> list[str]:
    problems = []
    read, evaluated, dead = (
        counts["records_read"],
        counts["records_evaluated"],
        counts["records_dead_lettered"],
    )
    if read != evaluated + dead:
        problems.append(f"counts: records read {read} != evaluated {evaluated} + dead-lettered {dead}")
    by_reason = sum(counts["dead_letters_by_reason"].values())
    if by_reason != dead:
        problems.append(f"counts: dead letters by reason add up to {by_reason}, not {dead}")
    return problems


def _file_problems(files: Iterable[Mapping[str, Any]], folder: Path, kind: str) -> list[str]:
    problems = []
    for entry in files:
        path = folder / entry["path"]
        if not path.is_file():
            problems.append(f"{kind} missing: {entry['path']}")
            continue
        size, digest = path.stat().st_size, sha256_of(path)
        if size != entry["bytes"] or digest != entry["sha256"]:
            problems.append(
                f"{kind} changed: {entry['path']} ({size} bytes, sha256 {digest[:16]}...; the manifest "
                f"says {entry['bytes']} bytes, sha256 {entry['sha256'][:16]}...)"
            )
    return problems
