"""What a zone config says, as pydantic models: the YAML file's schema.

These models validate structure and units only. Geometry is checked and resolved by
``zones.loader``, which turns a ``ZoneConfig`` into a loaded ``Zone``; the rule semantics
(precedence, applicability at a point) live in ``zones.rules``.

Every quantity carries its unit in its name (``limit_kmh``, ``grace_s``) so a config reads
unambiguously to an operator and a regulator alike. Each rule kind's model lives in its own
module in ``zones.kinds``; ``Rule`` is their discriminated union, built from the registry.
The vocabulary they share is in ``zones.terms``; both are re-exported here, so
``from pilotzone.zones.model import SpeedLimitRule`` keeps working.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, Union
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, ConfigDict, Field, ValidationInfo, field_validator

from pilotzone.zones.kinds import RULE_KINDS, RULE_MODELS
from pilotzone.zones.kinds.driving_mode import DrivingModeRule
from pilotzone.zones.kinds.dwell import DwellRule
from pilotzone.zones.kinds.leave_boundary import LeaveBoundaryRule
from pilotzone.zones.kinds.operating_hours import OperatingHoursRule
from pilotzone.zones.kinds.permit import PermitRule
from pilotzone.zones.kinds.restricted_area import RestrictedAreaRule
from pilotzone.zones.kinds.speed_limit import SpeedLimitRule
from pilotzone.zones.kinds.telemetry_gap import TelemetryGapRule
from pilotzone.zones.kinds.vehicle_event import VehicleEventRule
from pilotzone.zones.limits import MAX_AREAS, MAX_RULES
from pilotzone.zones.terms import (
    WEEKDAYS,
    Applicability,
    AreaKind,
    DrivingMode,
    EventKind,
    Initiator,
    OperatorPermit,
    RuleBase,
    Severity,
    StrictModel,
    TimeWindow,
    VehicleClass,
    Weekday,
)
from pilotzone.zones.timezones import timezone_problem

if TYPE_CHECKING:
    # A union built at run time is opaque to a type checker; every rule is a RuleBase, and
    # code that needs a kind's own fields narrows with isinstance on the kind's model.
    Rule: TypeAlias = RuleBase
else:
    Rule = Annotated[Union[tuple(RULE_MODELS.values())], Field(discriminator="kind")]  # noqa: UP007
"""Any rule: the kinds' models as one union, told apart by ``kind``."""


class GeometrySource(StrictModel):
    """Geometry taken from a GeoJSON file next to the config.

    ``where`` selects features by property (all of them must match); several matches are
    merged into one geometry, which is how a whole city is built from its districts.
    """

    # YAML reads an unquoted code such as 29110 as a number; property values are compared as text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    file: str = Field(min_length=1, max_length=4096)
    where: dict[str, str] = Field(default_factory=dict)

    @field_validator("file")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        # The operating system cannot take a NUL in a path; other control characters only hide
        # what a path really says from the person reviewing the config.
        if any(ord(character) < 32 or ord(character) == 127 for character in value):
            raise ValueError(
                "the path contains a control character (such as NUL or a newline): write it as plain text"
            )
        return value


GeometryInput = GeometrySource | dict[str, Any]
"""Either a ``GeometrySource`` or an inline GeoJSON Geometry or Feature object."""


class AreaConfig(StrictModel):
    """A named sub-area of the zone."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str
    kind: AreaKind
    geometry: GeometryInput


def until_after_start(until: dt.datetime | None, info: ValidationInfo, what: str) -> dt.datetime | None:
    """Validate ``until`` against the model's ``effective_from``: something in force for no
    time at all (a zone-config version, an emergency fence: ``what``) is a typo."""
    start = info.data.get("effective_from")
    if until is not None and start is not None and until <= start:
        raise ValueError(
            f"until ({until.isoformat()}) must be later than effective_from ({start.isoformat()}): "
            f"{what} in force for no time at all is a typo"
        )
    return until


class ZoneConfig(StrictModel):
    """One pilot zone: where it is, who may operate there and the rules they must keep."""

    zone_id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    timezone: str = "Asia/Seoul"
    authority: str = Field(default="", description="Who issued the zone's rules, for reports.")
    boundary: GeometryInput
    max_vehicles: int | None = Field(default=None, gt=0)
    operators: list[OperatorPermit] = Field(min_length=1)
    areas: list[AreaConfig] = Field(default_factory=list, max_length=MAX_AREAS)
    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)
    source: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Where the rules were imported from (an MDS Policy: its policy_id, dates, prev_policies and "
            "each rule's original statement), kept so an incident's rule id can be traced back to the "
            "published rule. The monitor carries it but never reads it to judge."
        ),
    )
    effective_from: AwareDatetime | None = Field(
        default=None,
        description=(
            "When this version takes effect (RFC 3339 with a UTC offset). Without it and without ``until`` "
            "the config is in force always; several dated versions of one zone form its history "
            "(``zones.history``)."
        ),
    )
    until: AwareDatetime | None = Field(
        default=None, description="When this version stops being in force (exclusive); none: open-ended."
    )

    @field_validator("until")
    @classmethod
    def _until_after_start(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        return until_after_start(value, info, "a version")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        problem = timezone_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The zone's timezone, in which every rule schedule is read."""
        return ZoneInfo(self.timezone)


__all__ = [
    "RULE_KINDS",
    "WEEKDAYS",
    "Applicability",
    "AreaConfig",
    "AreaKind",
    "DrivingMode",
    "DrivingModeRule",
    "DwellRule",
    "EventKind",
    "GeometryInput",
    "GeometrySource",
    "Initiator",
    "LeaveBoundaryRule",
    "OperatingHoursRule",
    "OperatorPermit",
    "PermitRule",
    "RestrictedAreaRule",
    "Rule",
    "RuleBase",
    "Severity",
    "SpeedLimitRule",
    "TelemetryGapRule",
    "TimeWindow",
    "VehicleClass",
    "VehicleEventRule",
    "Weekday",
    "ZoneConfig",
]
