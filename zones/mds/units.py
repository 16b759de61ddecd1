"""Exact conversions between MDS and zone-config units, vehicle types and schedules.

Speeds: a mile is exactly 1.609344 km (the international mile), so ``mph * 1.609344`` is an
exact decimal. The arithmetic is done in ``Decimal`` from the value's decimal text, and the
result becomes a float once, at the end, rounded correctly (``float(Decimal)``); its shortest
text (``repr``) is that same decimal (15 mph -> ``24.14016``), so the YAML shows the exact
value and no error piles up. The other way, a km/h limit is an exact whole number of mph or
km/h only if the decimal division leaves no remainder; otherwise it is not exported.
Durations are whole seconds, minutes, hours or days: multiplying by 60, 3600 or 86400 is
exact in integers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from pilotzone.zones.model import WEEKDAYS, TimeWindow, VehicleClass, Weekday

KM_PER_MILE = Decimal("1.609344")
"""The international mile (1959), exactly."""

SECONDS_PER_UNIT: dict[str, int] = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}

DEFAULT_VEHICLE_CLASSES: dict[str, tuple[VehicleClass, ...]] = {
    "car": (VehicleClass.CAR, VehicleClass.ROBOTAXI),
    "bus": (VehicleClass.BUS, VehicleClass.SHUTTLE),
    "truck": (VehicleClass.TRUCK,),
    "delivery_robot": (VehicleClass.DELIVERY_ROBOT,),
    "other": (VehicleClass.OTHER, VehicleClass.PARKING_ROBOT),
}
"""MDS vehicle type -> the classes it covers here. Micromobility types (bicycle, scooter,
moped ...) have no class in an autonomous-vehicle monitor: map them with ``--map-vehicle-type``."""

EXPORT_VEHICLE_TYPES: dict[VehicleClass, str] = {
    VehicleClass.CAR: "car",
    VehicleClass.ROBOTAXI: "car",
    VehicleClass.BUS: "bus",
    VehicleClass.SHUTTLE: "bus",
    VehicleClass.TRUCK: "truck",
    VehicleClass.DELIVERY_ROBOT: "delivery_robot",
    VehicleClass.PARKING_ROBOT: "other",
    VehicleClass.OTHER: "other",
}
"""Our class -> the MDS 2.0 vehicle type it is published as (the inverse of the default map)."""

MDS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def exact(value: int | float | str | Decimal) -> Decimal:
    """A number as the decimal its text says (``0.1`` is 0.1, not the binary float's value)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def kmh_from(maximum: int | float | str | Decimal, units: str) -> float:
    """An MDS speed in ``mph`` or ``kph`` as km/h, exactly converted, rounded once to a float."""
    value = exact(maximum)
    if units == "mph":
        return float(value * KM_PER_MILE)
    if units == "kph":
        return float(value)
    raise ValueError(f"unknown speed unit {units!r}: MDS speeds are in mph or kph")


def whole_speed_in(limit_kmh: float, units: str) -> int | None:
    """The limit as a whole number of ``units`` (mph or kph), or None if it is not one exactly.

    "Exactly" means the float's own decimal value (its ``repr``): 24.14016 km/h is 15 mph.
    """
    value = exact(limit_kmh)
    if units == "mph":
        value = value / KM_PER_MILE
    whole = value.to_integral_value()
    return int(whole) if value == whole else None


def seconds_from(maximum: int | float | str | Decimal, units: str) -> Decimal:
    """An MDS duration in seconds, exactly."""
    if units not in SECONDS_PER_UNIT:
        raise ValueError(f"unknown time unit {units!r}: MDS times are in {', '.join(SECONDS_PER_UNIT)}")
    return exact(maximum) * SECONDS_PER_UNIT[units]


def largest_whole_unit(seconds: float) -> tuple[int, str] | None:
    """A duration as a whole number of the largest unit that divides it (3600 s -> 1 hours),
    or None if it is not a whole number of seconds."""
    value = exact(seconds)
    if value != value.to_integral_value():
        return None
    whole = int(value)
    for unit in ("days", "hours", "minutes", "seconds"):
        if whole % SECONDS_PER_UNIT[unit] == 0:
            return whole // SECONDS_PER_UNIT[unit], unit
    raise AssertionError("every whole number of seconds is a whole number of seconds")


def vehicle_classes(
    vehicle_types: Sequence[str] | None, mapping: Mapping[str, Sequence[VehicleClass]]
) -> tuple[list[VehicleClass] | None, list[str]]:
    """The classes MDS vehicle types cover (None: every class) and the types no class covers."""
    if not vehicle_types:
        return None, []
    classes: list[VehicleClass] = []
    unmapped: list[str] = []
    for vehicle_type in vehicle_types:
        covered = mapping.get(vehicle_type)
        if not covered:
            unmapped.append(vehicle_type)
            continue
        classes.extend(c for c in covered if c not in classes)
    if set(classes) == set(VehicleClass):
        return None, unmapped
    return sorted(classes, key=list(VehicleClass).index), unmapped


def vehicle_types_of(classes: Iterable[VehicleClass] | None) -> list[str] | None:
    """The MDS vehicle types covering our classes (None: every type)."""
    if classes is None:
        return None
    return sorted({EXPORT_VEHICLE_TYPES[VehicleClass(c)] for c in classes})


class ScheduleError(ValueError):
    """An MDS rule's days or times that a zone schedule cannot say exactly."""


def _clock(text: str, *, end: bool) -> tuple[str, bool]:
    """``HH:MM:SS`` as ``HH:MM``; an end of ``23:59:59`` is the end of the day (``24:00``)."""
    try:
        parsed = dt.time.fromisoformat(text)
    except ValueError:
        raise ScheduleError(f"time {text!r} is not HH:MM:SS") from None
    if end and parsed == dt.time(23, 59, 59):
        return "24:00", True
    if parsed.second or parsed.microsecond:
        raise ScheduleError(
            f"time {text!r} has seconds; zone schedules are whole minutes (only an end of 23:59:59 "
            "is read, as the end of the day)"
        )
    return f"{parsed:%H:%M}", False


def schedule_from(
    days: Sequence[str] | None, start_time: str | None, end_time: str | None
) -> list[TimeWindow] | None:
    """An MDS rule's ``days``/``start_time``/``end_time`` as zone time windows (None: always).

    MDS reads them in the jurisdiction's local time, as a zone reads its schedule in the
    zone's timezone; defaults are every day, 00:00:00 and 23:59:59 (the end of the day). A
    window whose end is before its start runs past midnight, from each listed day.
    """
    if not days and start_time is None and end_time is None:
        return None
    start, _ = _clock(start_time or "00:00:00", end=False)
    end, _ = _clock(end_time or "23:59:59", end=True)
    weekdays: list[Weekday] = []
    for day in days or MDS_DAYS:
        if day not in MDS_DAYS:
            raise ScheduleError(f"day {day!r} is not one of {', '.join(MDS_DAYS)}")
        weekdays.append(Weekday(day))
    ordered = sorted(set(weekdays), key=WEEKDAYS.index)
    if start == "00:00" and end == "24:00" and len(ordered) == 7:
        return None
    return [TimeWindow.model_validate({"days": ordered, "start": start, "end": end})]


def schedule_to(windows: Sequence[TimeWindow] | None) -> dict[str, object] | None:
    """One zone time window as MDS ``days``/``start_time``/``end_time`` (None: always);
    raises ``ScheduleError`` for several windows, which one MDS rule cannot hold."""
    if windows is None:
        return {}
    if len(windows) != 1:
        raise ScheduleError(f"{len(windows)} time windows: one MDS rule has one window of days and times")
    window = windows[0]
    days = [str(d) for d in sorted(set(window.days), key=WEEKDAYS.index)]
    start = f"{window.start:%H:%M:%S}"
    if window.start == window.end:  # a whole day, however written
        start, end = "00:00:00", "23:59:59"
    else:
        end = "23:59:59" if window.ends_at_midnight else f"{window.end:%H:%M:%S}"
    out: dict[str, object] = {"start_time": start, "end_time": end}
    if len(days) < 7:
        out["days"] = days
    return out


__all__ = [
    "DEFAULT_VEHICLE_CLASSES",
    "EXPORT_VEHICLE_TYPES",
    "KM_PER_MILE",
    "MDS_DAYS",
    "SECONDS_PER_UNIT",
    "ScheduleError",
    "exact",
    "kmh_from",
    "largest_whole_unit",
    "schedule_from",
    "schedule_to",
    "seconds_from",
    "vehicle_classes",
    "vehicle_types_of",
    "whole_speed_in",
]
