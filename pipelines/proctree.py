"""Peak memory of a process tree, sampled from ``/proc`` while it runs (Linux).

``getrusage`` reports the peak of one process (or of the largest finished child), but a replay
on ``direct-multiprocess`` is a tree: the pipeline's process and its worker processes, all
alive at once. What a machine must hold is their *sum* at the worst moment, so a thread adds
up the resident memory of every descendant of a process a few times a second and keeps the
largest sum. Resident pages shared between processes are counted once per process, so the
figure is an upper bound.

It also keeps each process's CPU time as last seen (user + system): on a machine shared with
other work, wall time says more about the neighbours than about the replay, while the CPU
seconds the tree used (and so the wall time it would need on idle cores) hardly change.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    """Every live descendant of process ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:  # the process ended while we looked
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children[parent].append(int(entry.name))
    found: list[int] = []
    pending = list(children.get(root, ()))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far, 0 if it has ended."""
    try:
        fields = (
            (PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        )
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def resident_bytes(pid: int) -> int:
    """Resident memory of one process, 0 if it has ended."""
    try:
        return int((PROC / str(pid) / "statm").read_text(encoding="ascii").split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


class TreePeak:
    """``with TreePeak(os.getpid()) as peak: ...``; then ``peak.bytes`` is the largest sum of
    the descendants' resident memory seen, ``peak.largest`` the most any one of them held,
    ``peak.processes`` their largest number and ``peak.cpu_s`` the CPU seconds they used (each
    as last sampled, so up to one interval short).

    ``largest`` is sampled too, not read from ``getrusage``: a process started by fork and exec
    inherits its parent's high-water mark across the exec, so a replay spawned from a big
    process (a long test session) would report the parent's peak as its own."""

    def __init__(self, root: int, interval_s: float = 0.25) -> None:
        self.root = root
        self.interval_s = interval_s
        self.bytes = 0
        self.largest = 0
        self.processes = 0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-peak", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = descendants(self.root)
            for pid in tree:
                self._cpu[pid] = max(self._cpu.get(pid, 0.0), cpu_seconds(pid))
            sizes = [resident_bytes(pid) for pid in tree]
            self.bytes = max(self.bytes, sum(sizes))
            self.largest = max(self.largest, *sizes, 0)
            self.processes = max(self.processes, len(tree))
            self._stop.wait(self.interval_s)

    @property
    def cpu_s(self) -> float:
        """CPU seconds of every descendant seen, as last sampled."""
        return sum(self._cpu.values())

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
