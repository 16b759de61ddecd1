"""How each vehicle class typically moves, and the driving modes as the small codes tracks store."""

from __future__ import annotations

from dataclasses import dataclass

from pilotzone.zones.model import DrivingMode

MODES: tuple[str, ...] = tuple(mode.value for mode in DrivingMode)
MODE_CODE = {mode: code for code, mode in enumerate(MODES)}
AUTONOMOUS = MODE_CODE["AUTONOMOUS"]
MANUAL = MODE_CODE["MANUAL"]


@dataclass(frozen=True)
class ClassProfile:
    """How a class of vehicle typically moves; speeds in km/h, accelerations in m/s²."""

    cruise_kmh: tuple[float, float]
    max_kmh: float
    accel: float
    decel: float
    lateral: float
    leg_m: tuple[float, float]
    smooth_m: float
    stop_every_m: tuple[float, float]
    stop_s: tuple[float, float]
    has_driver: bool
    weight: float


PROFILES: dict[str, ClassProfile] = {
    # Robotaxis and cars stop for pick-ups and traffic lights; buses and shuttles at stops.
    "ROBOTAXI": ClassProfile((25, 45), 90, 2.0, 2.5, 2.0, (150, 900), 16, (600, 2000), (5, 40), True, 0.33),
    "CAR": ClassProfile((25, 48), 100, 2.0, 2.5, 2.0, (150, 1000), 16, (800, 2500), (5, 30), True, 0.12),
    "SHUTTLE": ClassProfile((15, 28), 40, 1.0, 1.2, 1.2, (150, 600), 12, (250, 600), (15, 40), True, 0.12),
    "BUS": ClassProfile((25, 42), 70, 1.2, 1.5, 1.3, (200, 900), 18, (350, 800), (20, 45), True, 0.1),
    "TRUCK": ClassProfile((25, 45), 80, 1.0, 1.5, 1.5, (200, 1000), 18, (1000, 3000), (10, 40), True, 0.1),
    # Delivery robots share sidewalks at walking pace and stop at doors.
    "DELIVERY_ROBOT": ClassProfile(
        (4, 6), 20, 0.5, 0.8, 0.5, (40, 250), 4, (150, 500), (15, 90), False, 0.15
    ),
    "PARKING_ROBOT": ClassProfile((3, 8), 15, 0.5, 0.8, 0.5, (20, 120), 4, (60, 250), (10, 60), False, 0.08),
}
