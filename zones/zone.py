"""A loaded zone: its validated config with every geometry resolved, as an immutable value.

``zones.loader`` builds it; everything else only reads it. Lookups prepared from a zone
(the area index, rule precedence tables) live in ``zones.compiled``, not on the zone, so a
zone stays a small value that pickles as what it is.

A zone pickles *content-addressed* (``Zone.__reduce__``): its state is pickled and compressed
once per process, and named by a digest of those bytes. Unpickling looks the digest up in a
process-wide registry of live zones first and rebuilds the zone only on a miss. Beam pickles a
pipeline's functions, which carry the zones, when it builds the pipeline and unpickles them
again for every stage of every bundle: with a zone of a thousand areas that was most of
what a stage costs to set up. Now every stage after the first gets the zone that is already
alive in its process -- the same object, so the lookups prepared per zone by identity
(``zones.compiled.per_zone``) are built once per process, not once per stage. A process that
has never seen the zone (a fresh worker) rebuilds it from the bytes, so the pickled form
stands alone.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import weakref
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeAlias

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

    def __reduce__(self) -> tuple[Any, tuple[str, bytes]]:
        return (restore_zone, pickled_state(self))


_LIVE: weakref.WeakValueDictionary[str, Zone] = weakref.WeakValueDictionary()
"""The zones alive in this process, by the digest of their pickled state."""

_STATES: weakref.WeakKeyDictionary[Zone, tuple[str, bytes]] = weakref.WeakKeyDictionary()
"""Each live zone's (digest, pickled state), computed on its first pickling."""

_LOCK = threading.Lock()
"""Bundles run on several threads; one zone's state is computed, and a zone built, once."""


def pickled_state(zone: Zone) -> tuple[str, bytes]:
    """``zone``'s digest and its compressed pickled state, computed once per zone.

    The digest is ``zone.version`` (what the config says) plus a SHA-256 of the state bytes
    (everything the zone holds: source, repairs and warnings too), so two zones share an
    entry only if they would unpickle to equal values. zlib at its fastest level: Beam
    compresses every pickled function again with bz2, which costs less on smaller input.
    """
    with _LOCK:
        found = _STATES.get(zone)
        if found is None:
            values = tuple(getattr(zone, field.name) for field in fields(zone))
            state = zlib.compress(pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL), 1)
            digest = f"{zone.version}/{hashlib.sha256(state).hexdigest()[:32]}"
            found = _STATES[zone] = (digest, state)
            _LIVE.setdefault(digest, zone)
        return found


def restore_zone(digest: str, state: bytes) -> Zone:
    """The live zone of this digest if the process has one, else the zone rebuilt from ``state``."""
    with _LOCK:
        zone = _LIVE.get(digest)
        if zone is None:
            zone = Zone(*pickle.loads(zlib.decompress(state)))
            _LIVE[digest] = zone
            _STATES[zone] = (digest, state)
        return zone


__all__ = ["Area", "Polygonal", "Zone"]
