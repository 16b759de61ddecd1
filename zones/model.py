"""What a zone config says, as pydantic models: the YAML file's schema.

These models validate structure and units only. Geometry is checked and resolved by
``zones.loader``, which turns a ``ZoneConfig`` into a loaded ``Zone``; the rule semantics
(precedence, applicability at a point) live in ``zones.rules``.

Every quantity carries its unit in its name (``limit_kmh``, ``grace_s``) so a config reads
unambiguously to an operator and a regulator alike.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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


class _Strict(BaseModel):
    # A misspelt key in a zone config must be an error, not a silently ignored rule.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(_Strict):
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


class Applicability(_Strict):
    """Where, when and to whom a rule applies; a field left out means "all"."""

    vehicle_classes: list[VehicleClass] | None = None
    areas: list[str] | None = Field(
        default=None, description="Sub-area ids; the rule applies only inside them. None: the whole zone."
    )
    schedule: list[TimeWindow] | None = Field(
        default=None, description="Local time windows when the rule applies. None: always."
    )


class _RuleBase(_Strict):
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


class SpeedLimitRule(_RuleBase):
    """Speed above ``limit_kmh`` + ``tolerance_kmh`` sustained for more than ``grace_s``."""

    kind: Literal["speed_limit"] = "speed_limit"
    limit_kmh: float = Field(gt=0, le=200)
    tolerance_kmh: float = Field(default=0.0, ge=0, le=50)
    grace_s: float = Field(default=5.0, ge=0, le=600)


class LeaveBoundaryRule(_RuleBase):
    """Being outside the zone's operating boundary for more than ``grace_s``."""

    kind: Literal["leave_boundary"] = "leave_boundary"
    grace_s: float = Field(default=10.0, ge=0, le=3600)


class RestrictedAreaRule(_RuleBase):
    """Being inside one of ``applies.areas`` (which must be set) for more than ``grace_s``."""

    kind: Literal["restricted_area"] = "restricted_area"
    grace_s: float = Field(default=0.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _needs_areas(self) -> RestrictedAreaRule:
        if not self.applies.areas:
            raise ValueError(
                "a restricted_area rule needs applies.areas: the ids of the areas vehicles must not enter"
            )
        return self


class OperatingHoursRule(_RuleBase):
    """Driving (any sample) outside the ``permitted`` local time windows, beyond ``grace_s``."""

    kind: Literal["operating_hours"] = "operating_hours"
    permitted: list[TimeWindow] = Field(min_length=1)
    grace_s: float = Field(default=0.0, ge=0, le=3600)


class TelemetryGapRule(_RuleBase):
    """No fix received from a vehicle for more than ``max_gap_s`` of event time."""

    kind: Literal["telemetry_gap"] = "telemetry_gap"
    max_gap_s: float = Field(gt=0, le=86400)


class DrivingModeRule(_RuleBase):
    """A driving mode outside ``allowed_modes`` (for example no driverless operation in a school zone)."""

    kind: Literal["driving_mode"] = "driving_mode"
    allowed_modes: list[DrivingMode] = Field(min_length=1)
    grace_s: float = Field(default=0.0, ge=0, le=3600)


class DwellRule(_RuleBase):
    """Stopped (speed below ``stopped_below_kmh``) for more than ``max_dwell_s`` in one place."""

    kind: Literal["dwell"] = "dwell"
    max_dwell_s: float = Field(gt=0, le=86400)
    stopped_below_kmh: float = Field(default=1.0, gt=0, le=20)


class PermitRule(_RuleBase):
    """A vehicle whose operator, or whose class for that operator, the zone's permits do not cover."""

    kind: Literal["permit"] = "permit"


class VehicleEventRule(_RuleBase):
    """An incident for every vehicle-reported ``event`` (optionally only for some initiators)."""

    kind: Literal["vehicle_event"] = "vehicle_event"
    event: EventKind
    initiated_by: list[Initiator] | None = None
    report_within_h: float | None = Field(
        default=None,
        gt=0,
        le=24 * 90,
        description="Hours the operator has to report the incident to the regulator.",
    )


Rule = Annotated[
    SpeedLimitRule
    | LeaveBoundaryRule
    | RestrictedAreaRule
    | OperatingHoursRule
    | TelemetryGapRule
    | DrivingModeRule
    | DwellRule
    | PermitRule
    | VehicleEventRule,
    Field(discriminator="kind"),
]

RULE_KINDS: tuple[str, ...] = (
    "speed_limit",
    "leave_boundary",
    "restricted_area",
    "operating_hours",
    "telemetry_gap",
    "driving_mode",
    "dwell",
    "permit",
    "vehicle_event",
)


class GeometrySource(_Strict):
    """Geometry taken from a GeoJSON file next to the config.

    ``where`` selects features by property (all of them must match); several matches are
    merged into one geometry, which is how a whole city is built from its districts.
    """

    # YAML reads an unquoted code such as 29110 as a number; property values are compared as text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    file: str
    where: dict[str, str] = Field(default_factory=dict)


GeometryInput = GeometrySource | dict[str, Any]
"""Either a ``GeometrySource`` or an inline GeoJSON Geometry or Feature object."""


class AreaConfig(_Strict):
    """A named sub-area of the zone."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str
    kind: AreaKind
    geometry: GeometryInput


class OperatorPermit(_Strict):
    """An operator allowed to run vehicles in the zone, with its classes and fleet cap."""

    id: str = Field(min_length=1)
    name: str = ""
    vehicle_classes: list[VehicleClass] = Field(min_length=1)
    max_vehicles: int | None = Field(default=None, gt=0)


class ZoneConfig(_Strict):
    """One pilot zone: where it is, who may operate there and the rules they must keep."""

    zone_id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    timezone: str = "Asia/Seoul"
    authority: str = Field(default="", description="Who issued the zone's rules, for reports.")
    boundary: GeometryInput
    max_vehicles: int | None = Field(default=None, gt=0)
    operators: list[OperatorPermit] = Field(min_length=1)
    areas: list[AreaConfig] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}: use a name such as 'Asia/Seoul'") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The zone's timezone, in which every rule schedule is read."""
        return ZoneInfo(self.timezone)
