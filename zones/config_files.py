"""Reading the files a zone config names, without reading what it has no business with.

A config's ``file:`` geometry reference is a path someone else wrote, read on a machine
that holds other data (CI runners, the regulator's monitor). Read blindly, ``/dev/zero``
exhausts memory, a FIFO hangs the load, and ``/etc/passwd`` or ``/proc/self/environ`` end
up in an error message. So a geometry file must be:

- **under the geometry root**, after every symlink is resolved. By default the root is the
  folder that holds the config's folder: the layout ``zones/configs/*.yaml`` beside
  ``zones/data/*.geojson`` (the shipped configs use ``../data/``) keeps working, and a
  config can name data its operator put next to it, but not the rest of the machine. When
  that folder would be the filesystem root (a config in ``/tmp``), the config's own folder
  is the root instead, so a config in a top-level folder cannot reach the whole machine
  (only a config lying in ``/`` itself gets ``/``). Callers that keep data elsewhere
  pass an explicit root (``load_zones(..., geometry_root=...)``, ``--geometry-root``).
- **a regular file**: no device, FIFO, socket or folder, and nothing under ``/proc``,
  ``/sys`` or ``/dev`` (kernel files claim to be regular and empty).
- **bounded**: at most ``MAX_GEOMETRY_FILE_BYTES``; at most that plus one byte is ever read.

The same bounded, regular-file-only read is used for the YAML configs themselves.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

KERNEL_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))
"""Pseudo-filesystems whose files are not data, whatever ``stat`` says about them."""


class RefusedFileError(Exception):
    """A file that must not or cannot be read; the message says why, in words for the config's author."""


@dataclass(frozen=True)
class GeometryRoot:
    """The folder ``file:`` references of one config must resolve into, and how it was chosen."""

    folder: Path
    explicit: bool

    def describe(self) -> str:
        """How the root was chosen, for an error message."""
        how = "given with --geometry-root" if self.explicit else "the folder holding the config's folder"
        return f"{self.folder} ({how})"


def geometry_root(config_path: Path, explicit: Path | None = None) -> GeometryRoot:
    """The root for ``config_path``'s geometry files: ``explicit`` if given, else the config folder's parent.

    ``configs/..`` is resolved the way the kernel resolves it (through a symlinked
    ``configs`` folder, then up), so the root agrees with where ``../data/x`` really points.
    """
    if explicit is not None:
        return GeometryRoot(explicit.resolve(), True)
    folder = config_path.absolute().parent
    parent = (folder / "..").resolve()
    if parent == Path(parent.anchor):
        return GeometryRoot(folder.resolve(), False)
    return GeometryRoot(parent, False)


def resolve_under(path: Path, root: GeometryRoot) -> Path:
    """``path`` with every symlink resolved, if it lies under ``root``; else ``RefusedFileError``.

    Containment is decided before existence, so a config cannot probe which files exist
    elsewhere on the machine.
    """
    try:
        resolved = path.resolve()
    except ValueError:  # the schema refuses NUL in paths; this guards callers that skip it
        raise RefusedFileError("the path contains a NUL character") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on Python 3.11
        raise RefusedFileError(f"cannot resolve the path: {getattr(exc, 'strerror', None) or exc}") from None
    if not resolved.is_relative_to(root.folder):
        where = f" (it resolves to {resolved})" if resolved != path.absolute() else ""
        raise RefusedFileError(
            f"it lies outside {root.describe()}{where}: geometry files must lie under that folder; "
            "copy the GeoJSON there, or choose the root explicitly (--geometry-root)"
        )
    return resolved


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; ``RefusedFileError`` otherwise.

    The file is opened without blocking (a FIFO would wait for a writer for ever) and
    without following a final symlink, then checked on the open descriptor, so it cannot be
    swapped for something else between the check and the read. ``FileNotFoundError`` is
    left to the caller, which knows what a missing file means.
    """
    resolved = path.resolve()
    if any(resolved.is_relative_to(folder) for folder in KERNEL_FOLDERS):
        raise RefusedFileError(
            f"{resolved} is a kernel or device file, not data: name a GeoJSON or YAML file"
        )
    try:
        kind = stat.S_IFMT(os.stat(resolved).st_mode)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RefusedFileError(f"cannot read it: {exc.strerror}") from None
    if kind != stat.S_IFREG:
        raise RefusedFileError(
            f"it is {_describe_kind(kind)}, not a regular file: name a GeoJSON or YAML file"
        )
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        descriptor = os.open(resolved, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RefusedFileError(f"cannot read it: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise RefusedFileError(f"it is {_describe_kind(stat.S_IFMT(opened.st_mode))}, not a regular file")
        if opened.st_size > max_bytes:
            raise RefusedFileError(_too_large(opened.st_size, max_bytes))
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RefusedFileError(_too_large(None, max_bytes))
    return data


def _too_large(size: int | None, max_bytes: int) -> str:
    got = f"{size:,} bytes" if size is not None else "larger"
    return f"it is too large ({got}; at most {max_bytes:,} bytes): split or simplify it"


def _describe_kind(kind: int) -> str:
    names = {
        stat.S_IFDIR: "a folder",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFIFO: "a FIFO (named pipe)",
        stat.S_IFSOCK: "a socket",
    }
    return names.get(kind, "not a regular file")


__all__ = [
    "KERNEL_FOLDERS",
    "GeometryRoot",
    "RefusedFileError",
    "geometry_root",
    "read_bounded",
    "resolve_under",
]
