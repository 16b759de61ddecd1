"""What the fence metrics are computed from: each vehicle's stays inside an active fence.

The incident records say who broke a fence; the metrics need more: who is inside a fence
right now, during its grace too, and how long vehicles took to leave. The fence tracker
(``zones.fences.tracker``) already knows both, so it hands out *observations* beside its
records, without changing them:

* ``FenceSpan``: a vehicle's stay inside a fence in force, from the fence taking effect (a
  vehicle inside at its start) or from the vehicle's entry, to its first fix outside
  (``exited``) or to the fence's end. A stay still going at the latest fix judged is open
  (``until_ms`` None); a closed span supersedes the open one with the same key.
* ``FenceProgress``: the latest event time judged, the "now" of the gauges: in a replay the
  last fix, in a stream the fix the watermark (less the allowed lateness) last let the judge
  reach. Gauges are figures of event time, never of the clock, so a replay and a stream of
  the same fixes report the same values.
* ``FenceTerms``: a fence's zone, id and dates, for the count of fences in force.

``FenceFigures`` gathers them, in any order and from any number of steps (a replay's
vehicles are judged apart; a stream sends the same span open, then closed), and answers the
questions the exporter asks at a moment ``now_ms``. Spans carry the vehicle id only to tell
two vehicles' stays apart here: no figure it gives names a vehicle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pilotzone.zones.fences.model import Fence


@dataclass(frozen=True)
class FenceTerms:
    """A fence as the metrics need it: where, which, and when it is in force ([start, end))."""

    pilot_zone: str
    fence_id: str
    digest: str
    start_ms: int
    end_ms: int

    @classmethod
    def of(cls, fence: Fence) -> FenceTerms:
        """The terms of a loaded fence."""
        return cls(fence.document.pilot_zone, fence.fence_id, fence.digest, fence.start_ms, fence.end_ms)

    def in_force(self, when_ms: int) -> bool:
        """Whether the fence binds at event time ``when_ms`` (as ``Fence.in_force``)."""
        return self.start_ms <= when_ms < self.end_ms


@dataclass(frozen=True)
class FenceSpan:
    """One vehicle's stay inside a fence in force (module docstring)."""

    vehicle_id: str
    pilot_zone: str
    fence_id: str
    digest: str
    vehicle_class: str
    operator_id: str
    from_ms: int
    until_ms: int | None
    """Its first fix outside (``exited``) or the fence's end; None while it is still inside."""
    exited: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies the stay: vehicle, fence digest, start."""
        return (self.vehicle_id, self.digest, self.from_ms)

    @property
    def exit_s(self) -> float | None:
        """Seconds from its start to the first fix outside; None if it has not left (yet)."""
        if not self.exited or self.until_ms is None:
            return None
        return (self.until_ms - self.from_ms) / 1000

    def inside_at(self, when_ms: int) -> bool:
        """Whether the vehicle was inside at ``when_ms`` (an open stay counts to any later time:
        the vehicle's last known place is inside)."""
        return self.from_ms <= when_ms and (self.until_ms is None or when_ms < self.until_ms)


@dataclass(frozen=True)
class FenceProgress:
    """The latest event time fence judging has reached."""

    reached_ms: int


FenceObservation = FenceTerms | FenceSpan | FenceProgress

_KINDS: dict[str, type[FenceTerms] | type[FenceSpan] | type[FenceProgress]] = {
    "fence": FenceTerms,
    "span": FenceSpan,
    "progress": FenceProgress,
}


def observation_to_json(observation: FenceObservation) -> dict[str, Any]:
    """A JSON-ready row of an observation (``observation_from_json`` reads it back)."""
    kind = next(name for name, cls in _KINDS.items() if isinstance(observation, cls))
    return {"observation": kind, **asdict(observation)}


def observation_from_json(row: dict[str, Any]) -> FenceObservation:
    """The observation of a row ``observation_to_json`` wrote."""
    values = dict(row)
    return _KINDS[values.pop("observation")](**values)


def observation_sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Rows of observations in a stable order, so the same input writes the same file."""
    return tuple(
        str(row.get(name)) for name in ("observation", "digest", "vehicle_id", "from_ms", "until_ms")
    )


FenceLabels = tuple[str, str, str, str]
"""(pilot zone, fence id, operator id as sent, vehicle class) of a span."""


@dataclass
class FenceFigures:
    """Fences, stays and progress gathered from observations (module docstring).

    One entry per stay: what it holds grows with the vehicles caught inside fences, not with
    the fixes, so a stream's collector can keep it for as long as it runs."""

    fences: dict[str, FenceTerms] = field(default_factory=dict)
    spans: dict[tuple[str, str, int], FenceSpan] = field(default_factory=dict)
    reached_ms: int | None = None

    @classmethod
    def of(cls, fences: Sequence[Fence]) -> FenceFigures:
        """Figures that know ``fences`` already (a replay's, or a stream's at its start)."""
        figures = cls()
        for fence in fences:
            figures.add(FenceTerms.of(fence))
        return figures

    def add(self, observation: FenceObservation) -> None:
        """Take one observation in; the same one twice changes nothing."""
        if isinstance(observation, FenceTerms):
            # An amendment only ever cuts the version it replaces short, so of two terms of
            # one version the earlier end is the latest word, whichever arrives last.
            known_terms = self.fences.get(observation.digest)
            if known_terms is None or observation.end_ms < known_terms.end_ms:
                self.fences[observation.digest] = observation
        elif isinstance(observation, FenceProgress):
            if self.reached_ms is None or observation.reached_ms > self.reached_ms:
                self.reached_ms = observation.reached_ms
        else:
            known = self.spans.get(observation.key)
            if known is None or known.until_ms is None:
                self.spans[observation.key] = observation

    def in_force(self, now_ms: int | None) -> dict[str, int]:
        """Per pilot zone of every known fence: how many are in force at ``now_ms`` (0 before
        any fix was judged)."""
        counts = {terms.pilot_zone: 0 for terms in self.fences.values()}
        for terms in self.fences.values():
            if now_ms is not None and terms.in_force(now_ms):
                counts[terms.pilot_zone] += 1
        return counts

    def inside(self, now_ms: int | None) -> dict[FenceLabels, int]:
        """Per label set of every stay seen: vehicles inside a fence in force at ``now_ms``."""
        counts = {_labels(span): 0 for span in self.spans.values()}
        if now_ms is None:
            return counts
        for span in self.spans.values():
            terms = self.fences.get(span.digest)
            if (terms is None or terms.in_force(now_ms)) and span.inside_at(now_ms):
                counts[_labels(span)] += 1
        return counts

    def exits(self, before_ms: int | None = None) -> dict[FenceLabels, list[float]]:
        """Per label set of every stay seen: the seconds each exit took (those before
        ``before_ms`` if given), in time order."""
        found: dict[FenceLabels, list[float]] = {_labels(span): [] for span in self.spans.values()}
        for span in sorted(self.spans.values(), key=lambda s: (s.until_ms or 0, s.key)):
            seconds = span.exit_s
            if seconds is not None and (before_ms is None or (span.until_ms or 0) < before_ms):
                found[_labels(span)].append(seconds)
        return found


def _labels(span: FenceSpan) -> FenceLabels:
    return (span.pilot_zone, span.fence_id, span.operator_id, span.vehicle_class)


__all__ = [
    "FenceFigures",
    "FenceLabels",
    "FenceObservation",
    "FenceProgress",
    "FenceSpan",
    "FenceTerms",
    "observation_from_json",
    "observation_sort_key",
    "observation_to_json",
]
