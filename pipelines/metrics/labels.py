"""Where the ``operator`` label's values come from: the zone configs' permits, never telemetry.

``operator_id`` is whatever a vehicle sends. Exported as it came, 2,001 operator ids in one
upload made 2,001 series in every fleet family, and a 1 MB id became a 1 MB label value: a
cardinality and size attack on every Prometheus that scrapes the monitor. A label value is
therefore an operator id that the zone's config lists under ``operators`` (at most as many
values as permits); every other id is counted under the one value ``unpermitted``. The
incident log and the summaries still carry the id as sent, for the regulator to follow up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pilotzone.zones import Zone

UNPERMITTED = "unpermitted"
"""The ``operator`` label of samples and incidents whose operator holds no permit in the zone."""


@dataclass(frozen=True)
class OperatorLabels:
    """Maps (pilot zone, operator id as sent) to the ``operator`` label value."""

    permitted: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, zones: Sequence[Zone]) -> OperatorLabels:
        """The permits of ``zones``, from their configs (of every version of a config history)."""
        permitted: dict[str, frozenset[str]] = {}
        for zone in zones:
            operators = frozenset(o.id for o in zone.config.operators)
            permitted[zone.zone_id] = permitted.get(zone.zone_id, frozenset()) | operators
        return cls(permitted)

    def __call__(self, pilot_zone: str, operator_id: str) -> str:
        if operator_id in self.permitted.get(pilot_zone, frozenset()):
            return operator_id
        return UNPERMITTED
