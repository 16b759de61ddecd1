"""Compaction: a folder of small uploads merged into a few large container files, losslessly.

Operators who keep every upload for audit replay the same minute-sized files again and again;
a replay of large files is several times faster (one columnar call per file, no per-file
cost). ``compact`` merges without decoding anything:

* Every input file (``*.avro`` under the input folder, in path order) is pre-scanned
  (``pilotzone.schemas.columnar.scan_container``: header, every block header, the limits).
* The blocks of files that pass are *copied byte for byte* (record count, size, compressed
  data) into parts ``part-<schema>-<codec>-<n>.avro``, one series of parts per distinct
  (writer schema, codec), rolled at ``PART_BYTES``. Only the sync marker after each block is
  the part's. Records, their order within each file and the files' order are kept, so each
  vehicle's records keep their order.
* Files that do not pass (not Avro, corrupt, truncated, over a bound, an lz4 file the scan
  does not read) are copied whole beside the parts as ``verbatim--<relative path>``: the
  replay decodes or dead-letters them exactly as it would have the originals.

Provenance lives beside each part, in ``<part>.sources.jsonl``: one line per copied block with
the block's offset and first record in the part, and the source file, the block's offset in
it and its first record there. A dead letter on a part (its ``source``, ``offset``,
``record``) therefore leads back to the upload and the record in it; the part itself stays a
plain contract container file that any Avro reader (and the columnar fast path) reads.

Compaction is idempotent: the same input gives the same bytes (sync markers are derived from
the part's content, metadata is written in a fixed order), and running it again over its own
output folder replaces what it wrote before (listed in ``compaction.json``).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import schemaless_writer

from pilotzone.schemas.columnar import ContainerScan, scan_container
from pilotzone.schemas.decode import CONTAINER_HEADER_SCHEMA, CONTAINER_MAGIC, SYNC_SIZE

PART_BYTES = 64 * 1024 * 1024
"""A part is closed once it holds this many bytes of blocks."""

MANIFEST = "compaction.json"
VERBATIM_PREFIX = "verbatim--"


def verbatim_name(relative: str) -> str:
    """Where an input file that is not merged is copied: beside the parts (so ``OUT/*.avro``
    matches every output), its relative path kept in the name."""
    return VERBATIM_PREFIX + relative.replace("/", "--")


class CompactionError(ValueError):
    """The folders cannot be compacted as asked; the message says what to change."""


@dataclass
class _Part:
    schema_json: bytes
    codec: str
    blocks: list[bytes] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0
    records: int = 0


@dataclass(frozen=True)
class CompactionSummary:
    """What a compaction read and wrote."""

    files_in: int
    files_merged: int
    files_verbatim: int
    records: int
    parts: tuple[str, ...]


def _header(schema_json: bytes, codec: str, sync: bytes) -> bytes:
    buffer = io.BytesIO()
    meta = {"avro.codec": codec.encode("ascii"), "avro.schema": schema_json}
    schemaless_writer(buffer, CONTAINER_HEADER_SCHEMA, {"magic": CONTAINER_MAGIC, "meta": meta, "sync": sync})
    return buffer.getvalue()


def _write_part(out_dir: Path, name: str, part: _Part) -> None:
    """The part's bytes and its provenance sidecar; the sync marker is a digest of the content."""
    digest = hashlib.sha256(part.schema_json + part.codec.encode())
    for block in part.blocks:
        digest.update(block)
    sync = digest.digest()[:SYNC_SIZE]
    header = _header(part.schema_json, part.codec, sync)
    position = len(header)
    chunks = [header]
    for block, provenance in zip(part.blocks, part.provenance, strict=True):
        provenance["offset"] = position
        chunks += [block, sync]
        position += len(block) + SYNC_SIZE
    (out_dir / name).write_bytes(b"".join(chunks))
    (out_dir / f"{name}.sources.jsonl").write_text(
        "".join(json.dumps(line, sort_keys=True) + "\n" for line in part.provenance), encoding="utf-8"
    )


def _check_folders(in_dir: Path, out_dir: Path) -> list[str]:
    """Refuse folders that would lose data; return the files a previous compaction wrote."""
    if not in_dir.is_dir():
        raise CompactionError(f"{in_dir} is not a folder: give the folder of uploads to compact")
    inside = out_dir.resolve()
    if inside == in_dir.resolve() or in_dir.resolve() in inside.parents:
        raise CompactionError(f"--out {out_dir} lies inside {in_dir}: write the parts to another folder")
    if not out_dir.exists():
        return []
    manifest = out_dir / MANIFEST
    previous: list[str] = []
    if manifest.exists():
        previous = list(json.loads(manifest.read_text(encoding="utf-8"))["written"])
    known = {*previous, MANIFEST}
    strangers = [
        path.relative_to(out_dir).as_posix()
        for path in sorted(out_dir.rglob("*"))
        if path.is_file() and path.relative_to(out_dir).as_posix() not in known
    ]
    if strangers:
        raise CompactionError(
            f"--out {out_dir} holds files no compaction wrote ({', '.join(strangers[:3])}"
            f"{', ...' if len(strangers) > 3 else ''}): choose an empty or new folder"
        )
    return previous


def compact(in_dir: Path, out_dir: Path, part_bytes: int = PART_BYTES) -> CompactionSummary:
    """Merge the uploads under ``in_dir`` into parts in ``out_dir`` (see the module docstring)."""
    previous = _check_folders(in_dir, out_dir)
    for name in previous:
        (out_dir / name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(in_dir.rglob("*.avro"), key=lambda p: p.relative_to(in_dir).as_posix())
    open_parts: dict[tuple[bytes, str], _Part] = {}
    counts: dict[tuple[bytes, str], int] = {}
    written: list[str] = []
    verbatim = merged = records = 0

    def close(key: tuple[bytes, str]) -> None:
        part = open_parts.pop(key)
        number = counts.get(key, 0)
        counts[key] = number + 1
        schema_id = hashlib.sha256(key[0]).hexdigest()[:8]
        name = f"part-{schema_id}-{key[1]}-{number:05d}.avro"
        _write_part(out_dir, name, part)
        written.extend([name, f"{name}.sources.jsonl"])

    for path in files:
        relative = path.relative_to(in_dir).as_posix()
        data = path.read_bytes()
        scan = scan_container(data)
        if scan is None:
            name = verbatim_name(relative)
            shutil.copyfile(path, out_dir / name)
            written.append(name)
            verbatim += 1
            continue
        merged += 1
        key = (scan.schema_json, scan.codec)
        part = open_parts.setdefault(key, _Part(scan.schema_json, scan.codec))
        _append_blocks(part, relative, data, scan)
        records += scan.records
        if part.size >= part_bytes:
            close(key)
    for key in sorted(open_parts):
        close(key)
    written.sort()
    manifest = {"written": written, "files_in": len(files), "records": records}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return CompactionSummary(
        len(files),
        merged,
        verbatim,
        records,
        tuple(n for n in written if n.startswith("part-") and n.endswith(".avro")),
    )


def _append_blocks(part: _Part, relative: str, data: bytes, scan: ContainerScan) -> None:
    first_in_source = 0
    for offset, (_, end), count in zip(scan.block_offsets, scan.block_data, scan.block_counts, strict=True):
        part.blocks.append(data[offset:end])
        part.provenance.append(
            {
                "block": len(part.provenance),
                "first_record": part.records,
                "records": count,
                "source": relative,
                "source_offset": offset,
                "source_first_record": first_in_source,
            }
        )
        part.size += end - offset + SYNC_SIZE
        part.records += count
        first_in_source += count
