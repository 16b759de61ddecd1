"""Peak memory of a process tree: the sum over live descendants, sampled from /proc."""

from __future__ import annotations

import os
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


def test_the_peak_is_the_sum_of_the_live_children() -> None:
    # Earlier tests may leave helpers of their own (multiprocessing's resource tracker).
    before = set(descendants(os.getpid()))
    children = []
    try:
        with TreePeak(os.getpid(), interval_s=0.05) as peak:
            children = [_holder(64), _holder(32)]
            time.sleep(0.3)
        assert set(descendants(os.getpid())) - before == {child.pid for child in children}
        own = [resident_bytes(child.pid) for child in children]
        others = sum(resident_bytes(pid) for pid in before)
        assert all(size >= mib * 2**20 for size, mib in zip(own, (64, 32), strict=True))
        assert peak.processes == 2 + len(before)
        # Both sides add the same clock-tick counts as floats, in different orders: allow the
        # rounding (66.68000000000002 against 66.67999999999999 failed once), not a tick more.
        total_cpu_s = sum(cpu_seconds(pid) for pid in [*before, *(c.pid for c in children)])
        assert 0 < peak.cpu_s <= total_cpu_s + 1e-9
        assert 96 * 2**20 <= peak.bytes <= sum(own) + others + 2**20
        assert 64 * 2**20 <= peak.largest <= peak.bytes
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert set(descendants(os.getpid())) - before == set()
    assert resident_bytes(children[0].pid) == 0
