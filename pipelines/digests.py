"""Digests of the input files a run read, taken from the bytes it decoded.

The run manifest (``pipelines.jobs.manifest``) vouches for what was evaluated, not for what a
file holds later, so a digest is taken where the replay reads a file's bytes. Those reads
happen inside Beam workers, many files per bundle: ``DigestLog`` collects a bundle's digests
and writes them as one JSON Lines file in a folder the caller owns, which keeps memory flat
over hundreds of thousands of inputs. A retried bundle writes a second file with equal
lines; the reader keeps one line per path. No Beam here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilotzone.pipelines.atomic import write_text_atomically


@dataclass(frozen=True)
class FileDigest:
    """A file as the manifest lists it: path, size and SHA-256 (hex) of its bytes."""

    path: str
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256}


def digest_payload(path: str, data: bytes) -> FileDigest:
    """The digest of bytes already read (what the pipeline decoded)."""
    return FileDigest(path, len(data), hashlib.sha256(data).hexdigest())


class DigestLog:
    """One bundle's digests, written as one JSON Lines file into ``folder`` (module docstring)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.lines: list[str] = []

    def add(self, path: str, data: bytes) -> None:
        """Digest one file's bytes."""
        self.lines.append(json.dumps(digest_payload(path, data).to_json(), ensure_ascii=False) + "\n")

    def flush(self) -> None:
        """Write what was collected since the last flush (at the end of a bundle)."""
        if self.lines:
            write_text_atomically(Path(self.folder) / f"{uuid.uuid4().hex}.jsonl", "".join(self.lines))
        self.lines = []


def read_input_digests(folder: Path) -> list[FileDigest]:
    """The digests written into ``folder``, each path once, sorted by path.

    A retried bundle writes its digests again; the bytes of one path are the same, so keeping
    one line per path loses nothing.
    """
    found: dict[str, FileDigest] = {}
    for part in sorted(folder.glob("*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            found[row["path"]] = FileDigest(row["path"], row["bytes"], row["sha256"])
    return [found[path] for path in sorted(found)]
