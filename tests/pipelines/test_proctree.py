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
    children = []
    try:
        with TreePeak(os.getpid(), interval_s=0.05) as peak:
            children = [_holder(64), _holder(32)]
            time.sleep(0.3)
        assert sorted(descendants(os.getpid())) == sorted(child.pid for child in children)
        own = [resident_bytes(child.pid) for child in children]
        assert all(size >= mib * 2**20 for size, mib in zip(own, (64, 32), strict=True))
        assert peak.processes == 2
        assert 0 < peak.cpu_s <= cpu_seconds(children[0].pid) + cpu_seconds(children[1].pid)
        assert 96 * 2**20 <= peak.bytes <= sum(own) + 2**20
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert descendants(os.getpid()) == []
    assert resident_bytes(children[0].pid) == 0
