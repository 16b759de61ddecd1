"""The zone grade: one letter, A (best) to E, for how safely and lawfully a zone ran in a period.

The grade is the **worst** of three criteria, each banded on its own, so that a good figure on
one cannot hide a bad one on another:

1. **Compliance ratio** C = 1 - violation seconds / vehicle seconds (the Prometheus recording
   rule's figure): A >= 0.999, B >= 0.995, C >= 0.99, D >= 0.95, else E.
2. **Serious incidents** per 1,000 km driven (any mode), severity CRITICAL or MAJOR:
   A <= 0.5, B <= 2, C <= 10, D <= 25, else E.
3. **Control handovers** (disengagements + remote takeovers) per 1,000 autonomous km:
   A <= 1, B <= 5, C <= 20, D <= 50, else E.

grade = max(band(C), band(serious per 1,000 km), band(handovers per 1,000 autonomous km)),
letters ordered A < B < C < D < E. Below ``MIN_KM`` km driven (or ``MIN_KM`` autonomous km for
the third criterion) a rate is noise, so that criterion is "not rated" and does not count; with
no criterion rated the zone is not graded. The bands are this project's, chosen so that a zone
whose only incidents are rare minor ones gets A, and a zone where a vehicle is in violation one
second in twenty gets E; they are not a legal standard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pilotzone.pipelines.reports.figures import GroupFigures

LETTERS = ("A", "B", "C", "D", "E")
MIN_KM = 100.0
"""Below this many km a rate per 1,000 km is not rated."""

COMPLIANCE_BANDS = (0.999, 0.995, 0.99, 0.95)
"""Lowest compliance ratio for A, B, C, D."""
SERIOUS_BANDS = (0.5, 2.0, 10.0, 25.0)
"""Most CRITICAL + MAJOR incidents per 1,000 km for A, B, C, D."""
HANDOVER_BANDS = (1.0, 5.0, 20.0, 50.0)
"""Most disengagements + remote takeovers per 1,000 autonomous km for A, B, C, D."""


@dataclass(frozen=True)
class Criterion:
    """One criterion's value and band, or why it is not rated."""

    name: str
    value: float | None
    letter: str | None
    rule: str
    """The bands, as a reader checks them."""
    note: str = ""


@dataclass(frozen=True)
class ZoneGrade:
    """The grade and the criteria it was taken from."""

    letter: str | None
    """A..E, or None when no criterion could be rated."""
    criteria: tuple[Criterion, ...]


def _band(value: float, limits: tuple[float, ...], better: Callable[[float, float], bool]) -> str:
    for letter, limit in zip(LETTERS, limits, strict=False):
        if better(value, limit):
            return letter
    return LETTERS[-1]


def zone_grade(total: GroupFigures) -> ZoneGrade:
    """The zone grade from the zone's total figures (module docstring)."""
    criteria = []
    ratio = total.compliance_ratio
    criteria.append(
        Criterion(
            "compliance ratio",
            ratio,
            None if ratio is None else _band(ratio, COMPLIANCE_BANDS, lambda v, lim: v >= lim),
            "A >= 0.999, B >= 0.995, C >= 0.99, D >= 0.95, else E",
            "" if ratio is not None else "no vehicle time in the period",
        )
    )
    km = total.km()
    serious = sum(n for (_kind, severity), n in total.incidents.items() if severity in {"CRITICAL", "MAJOR"})
    serious_rate = serious / km * 1000 if km >= MIN_KM else None
    criteria.append(
        Criterion(
            "CRITICAL and MAJOR incidents per 1,000 km",
            serious_rate,
            None if serious_rate is None else _band(serious_rate, SERIOUS_BANDS, lambda v, lim: v <= lim),
            "A <= 0.5, B <= 2, C <= 10, D <= 25, else E",
            "" if serious_rate is not None else f"not rated: {km:.1f} km driven, fewer than {MIN_KM:g}",
        )
    )
    autonomous_km = total.km("AUTONOMOUS")
    handovers = total.disengagements + total.remote_takeovers
    handover_rate = handovers / autonomous_km * 1000 if autonomous_km >= MIN_KM else None
    criteria.append(
        Criterion(
            "disengagements and remote takeovers per 1,000 autonomous km",
            handover_rate,
            None if handover_rate is None else _band(handover_rate, HANDOVER_BANDS, lambda v, lim: v <= lim),
            "A <= 1, B <= 5, C <= 20, D <= 50, else E",
            ""
            if handover_rate is not None
            else f"not rated: {autonomous_km:.1f} autonomous km, fewer than {MIN_KM:g}",
        )
    )
    rated = [c.letter for c in criteria if c.letter is not None]
    return ZoneGrade(max(rated, key=LETTERS.index) if rated else None, tuple(criteria))
