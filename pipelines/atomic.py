"""Writing an output file so that a reader, or a crash, never leaves half of it.

The bytes go to a temporary file in the destination's own folder (a rename is atomic only
within one file system), are flushed to disk, and the temporary file is renamed over the
destination. A run killed at any moment leaves either the old file or the new one, whole,
plus at worst a hidden ``.<name>.<random>.partial`` file. The temporary name is unique, so
two writers of one path (a retried bundle) never write into each other's file; the last
rename wins, with identical content.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PARTIAL_SUFFIX = ".partial"
"""How the temporary files end: a crash may leave some, and they are never outputs."""


def _process_umask() -> int:
    """The umask, read without changing it where Linux allows (changing it races with threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _process_umask()


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (creating its folder if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file private (0600); an output gets the mode the umask allows.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """``write_bytes_atomically`` for UTF-8 text."""
    write_bytes_atomically(path, text.encode("utf-8"))
