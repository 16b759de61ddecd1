"""Peak memory of a process tree: the sum over live descendants, sampled from /proc."""

from __future__ import annotations

import subprocess
import sys
import time

from pilotzone.pipelines.proctree import TreePeak, cpu_seconds, descendants, resident_bytes

HOLD = (
    "import sys, time\n"
    "block = bytearray(int(sys.argv[1]) * 2**20)\n"
    "for i in range(0, len(block), 4096):\n"
    "    block[i] = 1\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def _holder(mib: int) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(mib)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    return child


PARENT = (
    "import subprocess, sys\n"
    "hold = sys.argv[1]\n"
    "holders = [subprocess.Popen([sys.executable, '-c', hold, mib], stdout=subprocess.PIPE, text=True)\n"
    "           for mib in sys.argv[2:]]\n"
    "assert all(h.stdout.readline() == 'ready\\n' for h in holders)\n"
    "print(' '.join(str(h.pid) for h in holders), flush=True)\n"
    "sys.stdin.read()\n"
    "for h in holders:\n"
    "    h.kill()\n"
    "    h.wait()\n"
)
"""A process that starts one holder per size, prints their pids, and stops them when its input
closes: a tree of known members, which the test session's own descendants (helpers of earlier
tests, orphans it adopts as the subreaper) are not."""


def test_the_peak_is_the_sum_of_the_live_children() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, HOLD, "64", "32"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdin is not None and parent.stdout is not None
    try:
        with TreePeak(parent.pid, interval_s=0.05) as peak:
            holders = [int(pid) for pid in parent.stdout.readline().split()]
            time.sleep(0.3)
        assert sorted(descendants(parent.pid)) == sorted(holders)
        own = [resident_bytes(pid) for pid in holders]
        assert all(size >= mib * 2**20 for size, mib in zip(own, (64, 32), strict=True))
        assert peak.processes == 2
        # Both sides add the same clock-tick counts as floats, in different orders: allow the
        # rounding (66.68000000000002 against 66.67999999999999 failed once), not a tick more.
        assert 0 < peak.cpu_s <= sum(cpu_seconds(pid) for pid in holders) + 1e-9
        assert 96 * 2**20 <= peak.bytes <= sum(own) + 2**20
        assert 64 * 2**20 <= peak.largest <= peak.bytes
    finally:
        parent.stdin.close()
        parent.wait(timeout=30)
    assert descendants(parent.pid) == []
    assert all(resident_bytes(pid) == 0 for pid in holders)
