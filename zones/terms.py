"""The vocabulary zone configs and rule kinds share: enums, time windows, scopes, the rule base.

It sits below both ``zones.model`` (the whole config file) and the rule kind modules in
``zones.kinds``, so that each kind can define its config model without importing the
config file's model, which is built from the kinds.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VehicleClass(StrEnum):
    """Vehicle classes, the same symbols as the telemetry schema's ``VehicleClass`` enum."""

    CAR = "CAR"
    ROBOTAXI = "ROBOTAXI"
    SHUTTLE = "SHUTTLE"
    BUS = "BUS"
    TRUCK = "TRUCK"
    DELIVERY_ROBOT = "DELIVERY_ROBOT"
    PARKING_ROBOT = "PARKING_ROBOT"
    OTHER = "OTHER"


class DrivingMode(StrEnum):
    """Driving modes, the same symbols as the telemetry schema's ``DrivingMode`` enum."""

    MANUAL = "MANUAL"
    AUTONOMOUS = "AUTONOMOUS"
    REMOTE_OPERATED = "REMOTE_OPERATED"
    MINIMAL_RISK_MANOEUVRE = "MINIMAL_RISK_MANOEUVRE"
    DISENGAGING = "DISENGAGING"
    UNKNOWN = "UNKNOWN"


class EventKind(StrEnum):
    """Vehicle-reported events, the same symbols as the telemetry schema's ``VehicleEventKind``."""

    DISENGAGEMENT = "DISENGAGEMENT"
    REMOTE_TAKEOVER = "REMOTE_TAKEOVER"
    MINIMAL_RISK_MANOEUVRE = "MINIMAL_RISK_MANOEUVRE"
    COLLISION = "COLLISION"
    HARSH_BRAKING = "HARSH_BRAKING"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    OTHER = "OTHER"


class Initiator(StrEnum):
    """Who initiated an event, the telemetry schema's ``EventInitiator`` symbols."""

    SYSTEM = "SYSTEM"
    SAFETY_DRIVER = "SAFETY_DRIVER"
    REMOTE_OPERATOR = "REMOTE_OPERATOR"
    OTHER = "OTHER"


class Severity(StrEnum):
    """Incident severity, ordered from least to most serious (the incident schema's symbols)."""

    INFO = "INFO"
    MINOR = "MINOR"
    MAJOR = "MAJOR"
    CRITICAL = "CRITICAL"


class AreaKind(StrEnum):
    """What a named sub-area of a zone is; rules refer to areas by id, the kind is for people."""

    DISTRICT = "district"
    SCHOOL_ZONE = "school_zone"
    RESTRICTED_AREA = "restricted_area"
    SIDEWALK = "sidewalk"
    DEPOT = "depot"
    PICKUP_DROPOFF = "pickup_dropoff"
    CORRIDOR = "corridor"
    CONSTRUCTION = "construction"
    OTHER = "other"


class Weekday(StrEnum):
    """Days of the week, lower-case three-letter names as people write them in YAML."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)
"""Weekdays in ``datetime.weekday()`` order (Monday is 0)."""


class StrictModel(BaseModel):
    """A config model that refuses unknown keys and cannot be changed once validated."""

    # A misspelt key in a zone config must be an error, not a silently ignored rule.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(StrictModel):
    """A weekly time window in the zone's local time.

    ``start`` is inclusive and ``end`` exclusive. ``end`` earlier than ``start`` means the
    window runs past midnight into the next day (``22:00``-``06:00``); ``24:00`` is accepted
    as the end of the day. ``days`` names the day on which the window starts.
    """

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    start: dt.time = dt.time(0, 0)
    end: dt.time = dt.time(0, 0)
    ends_at_midnight: bool = Field(default=False, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _accept_2400(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in ("start", "end"):
            # YAML 1.1 reads an unquoted 22:00 as the base-60 integer 1320, and pydantic would
            # then take it as 1320 seconds after midnight (00:22): refuse numbers outright.
            if isinstance(data.get(key), int | float) and not isinstance(data.get(key), bool):
                raise ValueError(
                    f"{key} must be a time written as 'HH:MM' (in quotes), not the number {data[key]!r}"
                )
        if str(data.get("end", "")).strip() in {"24:00", "24:00:00"}:
            data = {**data, "end": "00:00", "ends_at_midnight": True}
        return data

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if not self.days:
            raise ValueError("days is empty: list at least one day, or leave days out for every day")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are wall-clock times in the zone's timezone: drop the UTC offset")
        return self

    def contains(self, local: dt.datetime) -> bool:
        """Whether a local wall-clock time falls inside the window."""
        t = local.time().replace(tzinfo=None)
        day = WEEKDAYS[local.weekday()]
        previous_day = WEEKDAYS[(local.weekday() - 1) % 7]
        if self.start == self.end:  # a whole day, including start 00:00 end 24:00
            return day in self.days
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        # Past midnight: the part before midnight belongs to the day it starts on.
        return (day in self.days and t >= self.start) or (previous_day in self.days and t < self.end)


class Applicability(StrictModel):
    """Where, when and to whom a rule applies; a field left out means "all"."""

    vehicle_classes: list[VehicleClass] | None = None
    areas: list[str] | None = Field(
        default=None, description="Sub-area ids; the rule applies only inside them. None: the whole zone."
    )
    schedule: list[TimeWindow] | None = Field(
        default=None, description="Local time windows when the rule applies. None: always."
    )


class RuleBase(StrictModel):
    """What every rule has, whatever its kind: identity, severity, scope and precedence.

    Each kind's module in ``zones.kinds`` subclasses it with a ``kind`` literal and the
    kind's own parameters.
    """

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    severity: Severity = Severity.MINOR
    applies: Applicability = Field(default_factory=Applicability)
    priority: int | None = Field(
        default=None,
        description=(
            "Explicit precedence among rules of the same kind at one point: higher wins. "
            "Without it the innermost (smallest) area wins over outer areas and the whole zone."
        ),
    )
    kind: str
    """The kind's name; each kind's model narrows it to a literal, the discriminator of ``Rule``."""


class OperatorPermit(StrictModel):
    """An operator allowed to run vehicles in the zone, with its classes and fleet cap."""

    id: str = Field(min_length=1)
    name: str = ""
    vehicle_classes: list[VehicleClass] = Field(min_length=1)
    max_vehicles: int | None = Field(default=None, gt=0)
