"""restricted_area: inside one of the rule's areas, or crossing one between two fixes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from pydantic import Field, model_validator

from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, RuleKind, ZoneFacts, seconds
from pilotzone.zones.terms import OperatorPermit, RuleBase


class RestrictedAreaRule(RuleBase):
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


@dataclass(frozen=True)
class Crossable:
    """A restricted_area rule's geometry, for finding segments that cross it."""

    area_ids: tuple[str, ...]
    geometries: tuple[Any, ...]
    union: Any
    bounds: tuple[float, float, float, float]


class RestrictedArea(RuleKind[RestrictedAreaRule]):
    """Being in force means being inside (the rule is scoped to its areas); peak = seconds.

    A crossing is also an incident: two consecutive fixes, both outside every area of the
    rule, whose straight segment enters one (see ``zones.evaluate``).
    """

    name = "restricted_area"
    model = RestrictedAreaRule
    overriding = False
    crossable = True

    def parameters(self, rule: RestrictedAreaRule) -> str:
        return "no entry" + (f", grace {rule.grace_s:g} s" if rule.grace_s else "")

    def grace_ms(self, rule: RestrictedAreaRule) -> int:
        return round(rule.grace_s * 1000)

    def prepare(self, rule: RestrictedAreaRule, zone: ZoneFacts) -> Crossable | None:
        """The rule's areas merged and prepared for segment tests (None: none of them exists)."""
        ids = tuple(a for a in (rule.applies.areas or []) if a in zone.area_geometry)
        geometries = tuple(zone.area_geometry[a] for a in ids)
        if not geometries:
            return None
        union = shapely.union_all(geometries)
        shapely.prepare(union)
        minx, miny, maxx, maxy = (float(b) for b in shapely.total_bounds(np.array(geometries, dtype=object)))
        return Crossable(ids, geometries, union, (minx, miny, maxx, maxy))

    def condition(
        self, rule: RestrictedAreaRule, prepared: Any, fixes: Fixes
    ) -> tuple[BoolArray, FloatArray | None]:
        return np.ones(len(fixes), dtype=bool), None

    def observed(
        self, rule: RestrictedAreaRule, *, area: str | None, detail: str, peak: float, duration: str
    ) -> str:
        return f"inside {area} for {duration} s"

    def why_in_force(
        self, rule: RestrictedAreaRule, *, place: str, vehicle_class: str, operators: Sequence[OperatorPermit]
    ) -> str:
        return f"the point is inside {place.removeprefix('in ')}"


def inside_fraction(line: Any, crossable: Crossable) -> float:
    """The share of a straight segment between two fixes that lies inside the rule's areas."""
    return float(shapely.length(shapely.intersection(line, crossable.union)) / shapely.length(line))


def entry_point(line: Any, crossable: Crossable) -> tuple[str, FloatArray] | None:
    """The area a segment enters first and the point where it does (ties: the smaller id)."""
    entries: list[tuple[float, str, FloatArray]] = []
    for area_id, geometry in zip(crossable.area_ids, crossable.geometries, strict=True):
        part = shapely.intersection(line, geometry)
        if part.is_empty:
            continue
        coordinates = shapely.get_coordinates(part)
        along = shapely.line_locate_point(line, shapely.points(coordinates))
        first = int(np.argmin(along))
        entries.append((float(along[first]), area_id, coordinates[first]))
    if not entries:
        return None
    _, area_id, entry = min(entries, key=lambda e: (e[0], e[1]))
    return area_id, entry


def crossing_observed(area_id: str, apart_ms: int, inside_ms: int) -> str:
    """What a crossing was, as the first half of its explanation."""
    return (
        f"crossed {area_id} between two fixes {seconds(apart_ms)} s apart, both outside it "
        f"(about {seconds(inside_ms)} s inside on the straight line)"
    )


KIND = RestrictedArea()
