"""Publish-to-enforcement latency of emergency fences, measured on a live stream.

    python -m pilotzone.pipelines.benchmark --fence-latency --poll 1 10 --allowed-lateness 2 30

For each (poll, allowed lateness) pair it starts a real broker and ``pilotzone stream`` on
Prism (Kafka telemetry in, incidents topic out, ``--fences`` a watched folder polled every
``poll`` seconds), drives a small fleet at 1 Hz in real time (event time = wall time) --
vehicles parked inside each fence's area and vehicles driving through them -- and publishes
fences with ``pilotzone fences publish`` at known wall times, alternately in force at once and
a few seconds ahead. It measures, in the same run:

* **enforcement**: from the moment a fence could first bind (its publication, or its
  ``effective_from`` if later) to the moment the stream first judged a fix under it, read from
  the stream's fence-enforcement records (``zones.fences.enforcement``); and how long the
  stream took to receive it (the folder's poll);
* **overdue**: from a parked vehicle's exit deadline (``effective_from + exit_within_s``, an
  event time; the fleet sends each second's fixes at that second, so it is a wall time too)
  to its OPENED incident on the incidents topic.

**The floor is structural.** A fence reaches the judge at the next poll of its folder; a fix
is judged once the watermark has passed its event time plus the allowed lateness, and the
watermark there is the slower of the telemetry's and the folder watch's, which advances only
at each poll; the first evidence of an overdue vehicle is its first fix after the deadline
(one sample interval); every step hands its output on when its bundle ends. So enforcement
cannot come sooner than up to a poll interval plus the allowed lateness, nor an overdue report
sooner than the sample interval plus that, each plus the runner's bundle delays.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilotzone.pipelines.jobs.report import read_jsonl
from pilotzone.pipelines.live.demo import LiveDemoSettings, live_run, percentile
from pilotzone.pipelines.live.fence_fleet import (
    PARKED,
    VEHICLE_CLASS,
    LiveFleet,
    fence_square,
    vehicle_tracks,
)
from pilotzone.pipelines.metrics.export import parse_rfc3339_ms
from pilotzone.zones import SHIPPED_CONFIGS

ZONE_CONFIG = SHIPPED_CONFIGS / "gwangju.yaml"
WARM_UP_FENCE = "bench-warm-up"
"""A fence in the folder from the start that binds no vehicle: its RECEIVED record shows the
stream is up and polling before the fleet starts."""
START_TIMEOUT_S = 240.0
FIRST_FENCE_AFTER_S = 15.0
"""Seconds of driving before the first fence is published."""
FENCE_GAP_S = 10.0


@dataclass(frozen=True)
class FenceLatencySettings:
    """One benchmark run: the stream's settings and the fleet's and fences' shape."""

    poll_s: float
    lateness_s: float
    fences: int = 3
    parked_per_fence: int = 3
    drivers: int = 4
    exit_within_s: float = 15.0
    ahead_s: float = 10.0
    """How far ahead of its publication every second fence takes effect."""

    def schedule(self) -> list[tuple[float, float]]:
        """Per fence, (publication, effective_from) in seconds after the fleet's start."""
        plan = []
        for index in range(self.fences):
            at = FIRST_FENCE_AFTER_S + index * FENCE_GAP_S
            plan.append((at, at + (self.ahead_s if index % 2 else 0.0)))
        return plan

    def duration_s(self) -> int:
        """The fleet drives until the last deadline has passed the allowed lateness, with a margin."""
        last_deadline = max(effective for _, effective in self.schedule()) + self.exit_within_s
        return math.ceil(last_deadline + self.lateness_s + self.poll_s + 15)


@dataclass(frozen=True)
class PublishedFence:
    """A fence as the benchmark published it: when, and from when it binds."""

    fence_id: str
    published_at_s: float
    effective_from_ms: int
    exit_within_s: float

    @property
    def deadline_ms(self) -> int:
        """The event time by which vehicles inside at the start must be out."""
        return self.effective_from_ms + round(self.exit_within_s * 1000)


def fence_document(fence_id: str, polygon: dict[str, Any], effective_ms: int, exit_within_s: float,
                   vehicle_class: str = VEHICLE_CLASS) -> dict[str, Any]:  # fmt: skip
    """A benchmark fence in the document form ``pilotzone fences publish`` reads."""
    return {
        "id": fence_id,
        "pilot_zone": "gwangju",
        "polygon": polygon,
        "vehicle_classes": [vehicle_class],
        "effective_from": dt.datetime.fromtimestamp(effective_ms / 1000, dt.UTC).isoformat(),
        "exit_within_s": exit_within_s,
        "reason": "publish-to-enforcement benchmark",
    }


def enforcement_latencies(
    published: Sequence[PublishedFence], rows: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per published fence, from its ``ENFORCED`` record: how long after publication the stream
    received it, and how long after it could first bind (publication or ``effective_from``,
    whichever is later) it first judged a fix under it, and how far behind that fix's event
    time the judgement came (None: never, within the run)."""
    enforced = {row["fence_id"]: row for row in rows if row["status"] == "ENFORCED"}
    out = []
    for fence in published:
        row = enforced.get(fence.fence_id)
        binds_from = max(fence.published_at_s, fence.effective_from_ms / 1000)
        out.append(
            {
                "fence_id": fence.fence_id,
                "ahead_s": round(fence.effective_from_ms / 1000 - fence.published_at_s, 3),
                "received_after_s": None
                if row is None
                else round(parse_rfc3339_ms(row["received_at"]) / 1000 - fence.published_at_s, 3),
                "enforced_after_s": None
                if row is None
                else round(parse_rfc3339_ms(row["judged_at"]) / 1000 - binds_from, 3),
                "judged_behind_s": None
                if row is None
                else round(
                    (parse_rfc3339_ms(row["judged_at"]) - parse_rfc3339_ms(row["first_fix_time"])) / 1000, 3
                ),
            }
        )
    return out


def overdue_latencies(
    published: Sequence[PublishedFence], arrived: Iterable[tuple[float, dict[str, Any]]], offset_s: float
) -> list[dict[str, Any]]:
    """Per overdue incident on the topic (an OPENED record of a fence starting at its deadline),
    from the deadline, mapped to wall time by ``offset_s``, to the record's arrival."""
    deadlines = {f"fence:{fence.fence_id}": fence.deadline_ms for fence in published}
    out = []
    for at, row in arrived:
        deadline = deadlines.get(row["rule_id"])
        if row["status"] != "OPENED" or deadline is None or parse_rfc3339_ms(row["start_time"]) != deadline:
            continue
        out.append({"rule_id": row["rule_id"], "latency_s": round(at - (deadline / 1000 + offset_s), 3)})
    return sorted(out, key=lambda item: (item["rule_id"], item["latency_s"]))


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Count, p50 and max of the values measured (None: not measured)."""
    measured = [value for value in values if value is not None]
    return {
        "count": len(measured),
        "missing": len(values) - len(measured),
        "p50": percentile(measured, 0.5),
        "max": max(measured, default=None),
    }


def structural_floor(settings: FenceLatencySettings) -> dict[str, str]:
    """What the settings allow at best, before the runner's bundle delays (module docstring)."""
    lateness = f"allowed lateness {settings.lateness_s:g} s"
    return {
        "enforcement": f"up to poll {settings.poll_s:g} s + {lateness} + bundle delays",
        "overdue": f"sample interval 1 s + up to poll {settings.poll_s:g} s + {lateness} + bundle delays",
    }


def enforcement_rows(folder: Path) -> list[dict[str, Any]]:
    """The fence-enforcement records the stream has written so far (files appear whole)."""
    return [row for path in sorted(folder.glob("*.jsonl")) for row in read_jsonl(path)]


def wait_for_warm_up(folder: Path, monitor_running: Any, timeout_s: float = START_TIMEOUT_S) -> None:
    """Until the stream has received the warm-up fence (it is polling); RuntimeError if it does
    not within ``timeout_s`` or the monitor exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(row["fence_id"] == WARM_UP_FENCE for row in enforcement_rows(folder)):
            return
        if not monitor_running():
            raise RuntimeError("the monitor exited before it received its first fence: see monitor.log")
        time.sleep(0.5)
    raise RuntimeError(f"the monitor did not receive its first fence within {timeout_s:g} s: see monitor.log")


def write_document(folder: Path, document: dict[str, Any]) -> Path:
    """A fence document as a regulator drafts it, before publication."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{document['id']}.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def run(settings: FenceLatencySettings, work: Path) -> dict[str, Any]:
    """One live run with ``settings``; its figures."""
    from pilotzone.pipelines.cli import main as pilotzone

    fences_dir, drafts = work / "fences", work / "drafts"
    fences_dir.mkdir(parents=True)
    later = round((time.time() + 86_400) * 1000)
    warm_up = fence_document(WARM_UP_FENCE, fence_square(-5), later, 0, "OTHER")
    publish(pilotzone, write_document(drafts, warm_up), fences_dir)
    extra = ["--fences", str(fences_dir), "--poll", f"{settings.poll_s:g}",
             "--allowed-lateness", f"{settings.lateness_s:g}", "--window", "10"]  # fmt: skip
    demo = LiveDemoSettings(ZONE_CONFIG, 0, settings.duration_s(), 1, work)
    enforcement_dir = work / "live" / "fence-enforcement"
    tracks = vehicle_tracks(settings.fences, settings.parked_per_fence, settings.drivers)
    published: list[PublishedFence] = []
    load_before = os.getloadavg()[0]
    with live_run(demo, lambda _row: None, extra) as live:
        fleet = LiveFleet(tracks, live.broker.bootstrap, "telemetry", START_TIMEOUT_S + settings.duration_s())
        fleet.start()
        try:
            wait_for_warm_up(enforcement_dir, lambda: live.monitor.poll() is None)
            origin = math.ceil(time.time())
            fleet.set_off(origin)
            for index, (at, effective) in enumerate(settings.schedule()):
                time.sleep(max(0.0, origin + at - time.time()))
                fence_id = f"bench-fence-{index}"
                effective_ms = round((time.time() + effective - at) * 1000)
                document = fence_document(fence_id, fence_square(index), effective_ms, settings.exit_within_s)
                publish(pilotzone, write_document(drafts, document), fences_dir)
                published.append(PublishedFence(fence_id, time.time(), effective_ms, settings.exit_within_s))
            fleet.stop_at(origin + settings.duration_s())
        finally:
            fleet.stop_at(min(fleet.stop_at_s or time.time(), time.time() + settings.duration_s()))
            fleet.join(timeout=settings.duration_s() + 60)
        time.sleep(settings.lateness_s + 5)  # the last fixes pass the allowed lateness
        live.stop()
    enforcement = enforcement_latencies(published, enforcement_rows(enforcement_dir))
    # The fleet's event times are the wall-clock seconds it sends for: a deadline's wall time
    # is its event time, and the publisher's lag is part of the measured latency.
    # Measured on the parked vehicles, whose number is known: a driver that a fence caught
    # inside may be overdue too, depending on where it was when the fence took effect.
    parked = [(at, row) for at, row in live.recorder.arrived if row["vehicle_id"].startswith(PARKED)]
    overdue = overdue_latencies(published, parked, 0.0)
    return {
        "settings": {
            "runner": "prism",
            "poll_s": settings.poll_s,
            "allowed_lateness_s": settings.lateness_s,
            "fences": settings.fences,
            "vehicles": len(tracks),
            "parked_per_fence": settings.parked_per_fence,
            "exit_within_s": settings.exit_within_s,
            "fleet_duration_s": settings.duration_s(),
            # The machine's load around the run: figures on a shared machine vary with it.
            "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        },
        "publisher_lag_s": spread(fleet.lag_s),
        "structural_floor": structural_floor(settings),
        "enforcement": enforcement,
        "enforced_after_s": spread([row["enforced_after_s"] for row in enforcement]),
        "received_after_s": spread([row["received_after_s"] for row in enforcement]),
        "judged_behind_s": spread([row["judged_behind_s"] for row in enforcement]),
        "overdue_after_deadline_s": spread(
            [row["latency_s"] for row in overdue]
            + [None] * max(0, settings.fences * settings.parked_per_fence - len(overdue))
        ),
    }


def publish(pilotzone: Any, draft: Path, folder: Path) -> None:
    """``pilotzone fences publish DRAFT --to FOLDER`` (its one line of output is not the benchmark's)."""
    with contextlib.redirect_stdout(io.StringIO()):
        status = pilotzone(["fences", "publish", str(draft), "--to", str(folder)])
    if status != 0:
        raise RuntimeError(f"pilotzone fences publish {draft} was refused (exit {status})")


def main(argv: list[str] | None = None) -> int:
    """Run the fence-latency benchmark for each (poll, allowed lateness) pair; print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m pilotzone.pipelines.benchmark --fence-latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--fence-latency", action="store_true", help="(the mode)")
    parser.add_argument("--poll", type=float, nargs="+", default=[1.0, 10.0], metavar="SECONDS",
                        help="fence folder poll intervals, one run each (1 10: a fast setting and the default)")  # fmt: skip
    parser.add_argument("--allowed-lateness", type=float, nargs="+", default=[2.0, 30.0], metavar="SECONDS",
                        help="the stream's allowed lateness, paired with --poll (2 30)")  # fmt: skip
    parser.add_argument("--fences", type=int, default=3, help="fences published per run (3)")
    parser.add_argument("--parked", type=int, default=3, help="vehicles parked inside each fence (3)")
    parser.add_argument("--drivers", type=int, default=4, help="vehicles driving through (4)")
    parser.add_argument("--exit-within", type=float, default=15.0, metavar="SECONDS", help="(15)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if len(args.poll) != len(args.allowed_lateness):
        parser.error("give as many --allowed-lateness values as --poll values (they pair up)")
    if min(args.poll + args.allowed_lateness) <= 0 or args.fences < 1 or args.parked < 1:
        parser.error("poll and lateness must be positive, and at least one fence and one parked vehicle")
    for poll, lateness in zip(args.poll, args.allowed_lateness, strict=True):
        settings = FenceLatencySettings(
            poll, lateness, args.fences, args.parked, args.drivers, args.exit_within
        )
        work = Path(tempfile.mkdtemp(prefix=f"fence-latency-{poll:g}-{lateness:g}-", dir=args.workdir))
        figures = run(settings, work)
        print(json.dumps(figures))
        print(summary_line(figures))
    return 0


def summary_line(figures: dict[str, Any]) -> str:
    """The figures of one run in one line, against the 5 s goal."""
    s, enforced, overdue = (
        figures["settings"],
        figures["enforced_after_s"],
        figures["overdue_after_deadline_s"],
    )
    return (
        f"poll {s['poll_s']:g} s, allowed lateness {s['allowed_lateness_s']:g} s: fence enforced "
        f"p50 {enforced['p50']} s / max {enforced['max']} s after it could bind ({enforced['count']} fences); "
        f"overdue vehicle on the topic p50 {overdue['p50']} s / max {overdue['max']} s after its deadline "
        f"({overdue['count']} vehicles, {overdue['missing']} not reported); goal 5 s; floor: "
        f"{figures['structural_floor']['enforcement']} / {figures['structural_floor']['overdue']}; "
        f"machine load {s.get('load_average_1m')}"
    )


if __name__ == "__main__":
    sys.exit(main())
