"""What an emergency fence document says (pydantic, strict) and the loaded ``Fence`` value."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import shapely
from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from pilotzone.zones.history import END_MS, time_ms
from pilotzone.zones.model import GeometryInput, until_after_start
from pilotzone.zones.terms import Severity, StrictModel, VehicleClass
from pilotzone.zones.version import geometry_version
from pilotzone.zones.zone import Polygonal

FENCE_KIND = "emergency_fence"
"""The incident kind of a fence violation (an overdue exit or an entry)."""

MAX_EXIT_WITHIN_S = 3600.0
"""An exit deadline longer than an hour is no emergency: most likely a typo in the unit."""


class FenceDocument(StrictModel):
    """An emergency fence as published: a no-go polygon, who it binds and from when."""

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    pilot_zone: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    polygon: GeometryInput
    vehicle_classes: list[VehicleClass] = Field(
        min_length=1, description="The classes that must leave and stay out; the others are not affected."
    )
    effective_from: AwareDatetime
    until: AwareDatetime | None = None
    exit_within_s: float = Field(default=120.0, ge=0, le=MAX_EXIT_WITHIN_S)
    severity: Severity = Severity.CRITICAL
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("until")
    @classmethod
    def _until_after_start(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        return until_after_start(value, info, "a fence")


@dataclass(frozen=True, eq=False)
class Fence:
    """A loaded fence: its document, its resolved polygon and the digest incidents carry."""

    document: FenceDocument
    geometry: Polygonal
    digest: str
    """``sha256:`` and 16 hex digits of the canonical document with the resolved polygon:
    the same however the file is formatted, different after any change."""
    source: Path
    superseded_ms: int | None = None
    """When a later version of the same fence id takes over (``zones.fences.versions``); None
    while no later version is known."""
    start_ms: int = field(init=False)
    end_ms: int = field(init=False)
    """The end of the fence's time in force: its ``until`` or, earlier, the next version's start."""

    def __post_init__(self) -> None:
        # contains_xy on a prepared polygon is what makes judging many fixes cheap.
        shapely.prepare(self.geometry)
        until = self.document.until
        end = END_MS if until is None else time_ms(until)
        if self.superseded_ms is not None:
            end = min(end, self.superseded_ms)
        object.__setattr__(self, "start_ms", time_ms(self.document.effective_from))
        object.__setattr__(self, "end_ms", end)

    def superseded_at(self, moment_ms: int | None) -> Fence:
        """This version, in force only until ``moment_ms`` (None: until its own ``until``)."""
        return self if moment_ms == self.superseded_ms else replace(self, superseded_ms=moment_ms)

    @property
    def fence_id(self) -> str:
        """The document's ``id``."""
        return self.document.id

    @property
    def rule_id(self) -> str:
        """The rule id incidents of this fence carry (fences share the zones' rule-id column)."""
        return f"fence:{self.document.id}"

    def in_force(self, when_ms: int) -> bool:
        """Whether the fence binds at event time ``when_ms`` (``until`` is exclusive)."""
        return self.start_ms <= when_ms < self.end_ms


def fence_digest(document: FenceDocument, geometry: Polygonal) -> str:
    """Content hash of the validated document with the polygon replaced by its shape's digest."""
    data = document.model_dump(mode="json", exclude={"polygon"})
    data["polygon"] = geometry_version(geometry)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


__all__ = ["FENCE_KIND", "MAX_EXIT_WITHIN_S", "Fence", "FenceDocument", "fence_digest"]
