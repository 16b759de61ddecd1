"""The fence-latency benchmark's fleet: vehicles parked inside fence areas and vehicles driving
through them, sending one fix a second to Kafka as it happens.

A simulation folder is written before the run and replayed at a fixed pace; this fleet is
generated while it drives instead, because the benchmark does not know in advance how long the
monitor takes to start on a loaded machine: the fleet drives from the moment the broker is up
(drivers waiting west of their fence), the drivers set off when the benchmark says so
(``set_off``), and it stops when told (``stop_at``). Each fix's event time is the wall-clock
second it is sent for, so a moment of event time *is* a moment of wall time.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

from pilotzone.pipelines.live.framing import TelemetryEncoder
from pilotzone.pipelines.live.publish import producer_config

OPERATOR = "gwangju-robotaxi-a"
VEHICLE_CLASS = "ROBOTAXI"
CENTRE = (126.85, 35.145)
"""Where the fences are drawn: inside the Gwangju zone, in Seo-gu."""
FENCE_SIDE_DEG = 0.002
"""About 180 m by 220 m."""
FENCE_SPACING_DEG = 0.004
DRIVER_SPEED_DEG_S = 0.00008
"""Eastwards, about 26 km/h at this latitude (a degree of longitude is about 91 km here)."""
METRES_PER_DEG_LON = 91_000
PARKED = "bench-parked-"
"""The id prefix of the vehicles parked inside a fence's area (``PARKED<fence>-<k>``)."""


@dataclass(frozen=True)
class Track:
    """Where a vehicle stands before it sets off, and its eastward speed (degrees/s) after."""

    lon: float
    lat: float
    speed_deg_s: float = 0.0


def fence_square(index: int) -> dict[str, Any]:
    """The polygon of fence ``index`` (west to east along the fleet's road)."""
    x0 = CENTRE[0] + index * FENCE_SPACING_DEG
    y0 = CENTRE[1] - FENCE_SIDE_DEG / 2
    x1, y1 = x0 + FENCE_SIDE_DEG, y0 + FENCE_SIDE_DEG
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def vehicle_tracks(fences: int, parked_per_fence: int, drivers: int) -> dict[str, Track]:
    """Parked vehicles stand inside a fence's area; driver ``j`` waits a fence's width west of
    fence ``j mod fences`` and, once set off, drives through it (entering after 25 s)."""
    tracks: dict[str, Track] = {}
    for fence in range(fences):
        x0 = CENTRE[0] + fence * FENCE_SPACING_DEG
        for k in range(parked_per_fence):
            tracks[f"{PARKED}{fence}-{k}"] = Track(
                x0 + FENCE_SIDE_DEG * (k + 1) / (parked_per_fence + 1), CENTRE[1] + 0.0003
            )
    for j in range(drivers):
        west_of = CENTRE[0] + (j % fences) * FENCE_SPACING_DEG - FENCE_SIDE_DEG
        tracks[f"bench-driver-{j}"] = Track(
            west_of, CENTRE[1] - 0.0003 - 0.0001 * (j // fences), DRIVER_SPEED_DEG_S
        )
    return tracks


def fix(vehicle: str, track: Track, sequence: int, t_ms: int, set_off_ms: int | None) -> dict[str, Any]:
    """The vehicle's telemetry record at ``t_ms`` (standing still before ``set_off_ms``, or
    while that is None)."""
    moving = set_off_ms is not None and t_ms > set_off_ms
    driven_s = (t_ms - set_off_ms) / 1000 if moving and set_off_ms is not None else 0.0
    speed = track.speed_deg_s if moving else 0.0
    return {
        "vehicle_id": vehicle,
        "operator_id": OPERATOR,
        "vehicle_class": VEHICLE_CLASS,
        "sequence_number": sequence,
        "current_location_timestamp": t_ms,
        "current_location_latitude": track.lat,
        "current_location_longitude": track.lon + track.speed_deg_s * driven_s,
        "current_location_altitude": 30.0,
        "current_location_heading": 90.0,
        "current_location_horizontal_accuracy": 3.0,
        "speed": speed * METRES_PER_DEG_LON * 3.6,
        "driving_mode": "AUTONOMOUS",
        "active_autonomy_level": 4,
        "events": [],
    }


class LiveFleet(threading.Thread):
    """Sends every vehicle's fix for each wall-clock second, keyed by vehicle, record timestamp =
    event time, until ``stop_at`` (or ``max_s`` after it started, whichever comes first)."""

    def __init__(self, tracks: dict[str, Track], bootstrap: str, topic: str, max_s: float) -> None:
        super().__init__(name="fence-fleet", daemon=True)
        self.tracks, self.bootstrap, self.topic, self.max_s = tracks, bootstrap, topic, max_s
        self.set_off_ms: int | None = None
        self.stop_at_s: float | None = None
        self.lag_s: list[float] = []
        """Per second sent: how long after that second its last fix was handed to the producer."""
        self.sent = 0

    def set_off(self, at_s: int) -> None:
        """The drivers start moving at wall time ``at_s``."""
        self.set_off_ms = at_s * 1000

    def stop_at(self, at_s: float) -> None:
        """Send no second from ``at_s`` on."""
        self.stop_at_s = at_s

    def run(self) -> None:
        encoder = TelemetryEncoder()
        producer = Producer(producer_config(self.bootstrap))
        second = math.ceil(time.time())
        last = second + self.max_s
        sequence = 0
        while second < last and (self.stop_at_s is None or second < self.stop_at_s):
            time.sleep(max(0.0, second - time.time()))
            for vehicle, track in self.tracks.items():
                record = fix(vehicle, track, sequence, second * 1000, self.set_off_ms)
                producer.produce(
                    self.topic, encoder.message(record), vehicle.encode(), timestamp=second * 1000
                )
                self.sent += 1
            self.lag_s.append(time.time() - second)
            producer.poll(0)
            sequence += 1
            second += 1
        producer.flush(30)
