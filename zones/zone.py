"""A loaded zone: its validated config with every geometry resolved, as an immutable value.

``zones.loader`` builds it; everything else only reads it. Lookups prepared from a zone
(the area index, rule precedence tables) live in ``zones.compiled``, not on the zone, so a
zone stays a small value that pickles as what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import shapely

from pilotzone.zones.model import RULE_KINDS, AreaKind, Rule, ZoneConfig

Polygonal: TypeAlias = shapely.Polygon | shapely.MultiPolygon
"""The only geometry types a boundary or an area may have."""


@dataclass(frozen=True)
class Area:
    """A named sub-area of a zone with its resolved geometry (lon/lat degrees)."""

    id: str
    name: str
    kind: AreaKind
    geometry: Polygonal
    area_m2: float
    """Area on the sphere in square metres; rule precedence uses it (innermost = smallest)."""


@dataclass(frozen=True, eq=False)
class Zone:
    """A loaded zone: its validated config with every geometry resolved and checked.

    Zones compare and hash by identity (``eq=False``): two loads of one file are two zones,
    and ``zones.compiled`` keys the lookups it prepares for a zone on that identity.
    ``version`` identifies the content.
    """

    config: ZoneConfig
    boundary: Polygonal
    areas: dict[str, Area]
    version: str
    """``sha256:`` and 16 hex digits of the canonical config with resolved geometry: the same
    for the same rules and shapes however the YAML is formatted, different after any change."""
    source: Path
    repaired: tuple[str, ...] = ()
    """Geometries repaired on load (only with ``repair_geometry=True``), with the defect."""
    warnings: tuple[str, ...] = ()
    """Legal but suspicious things: an area partly outside the boundary, two rules tied on
    precedence so that only their ids decide between them."""

    @property
    def zone_id(self) -> str:
        """The config's ``zone_id``."""
        return self.config.zone_id

    @property
    def rules(self) -> list[Rule]:
        """Every rule, in config order."""
        return list(self.config.rules)

    def rules_of_kind(self, kind: str) -> list[Rule]:
        """The rules of one kind (``speed_limit`` ...), in config order."""
        if kind not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {kind!r}: expected one of {', '.join(RULE_KINDS)}")
        return [rule for rule in self.config.rules if rule.kind == kind]


__all__ = ["Area", "Polygonal", "Zone"]
