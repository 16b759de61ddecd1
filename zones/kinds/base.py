"""What a rule kind is: the protocol every kind module implements, and the data it may read.

A kind module holds everything the kind *means*: its config model, the condition a vehicle
violates on arrays of fixes, what its peak measures (and in which unit), its grace, and the
phrases that explain a rule and an incident to people. The precedence engine
(``zones.rules``) and the evaluator (``zones.evaluate``) hold the machinery shared by all
kinds and ask the kind, found through ``zones.kinds.KINDS``, whenever a kind differs.

Kinds get plain values (``ZoneFacts``, ``Fixes``), never a loaded ``Zone``: the loader
validates configs with the models the kinds define, so a kind importing it would be a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from pilotzone.zones.terms import Initiator, OperatorPermit, RuleBase

R = TypeVar("R", bound=RuleBase)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

Evaluation = Literal["run", "gap", "event"]
"""How the evaluator turns a kind into incidents: ``run`` (a condition held for longer than
the grace), ``gap`` (silence between fixes), ``event`` (one incident per reported event)."""


@dataclass(frozen=True)
class ZoneFacts:
    """What a kind may know of its zone when it prepares a rule for evaluation."""

    operators: Sequence[OperatorPermit]
    area_geometry: Mapping[str, Any]
    """Area id -> its shapely geometry (lon/lat)."""


class Fixes:
    """One vehicle's fixes as a kind's condition reads them: one entry per fix, in time order.

    The costlier columns are computed on first use only, because most chunks meet only a
    few kinds.
    """

    def __init__(
        self,
        *,
        speed_kmh: FloatArray,
        accuracy_m: FloatArray,
        driving_mode: npt.NDArray[np.int8],
        vehicle_class: npt.NDArray[np.int8],
        operator_id: npt.NDArray[np.object_],
        minute_of_week: IntArray,
        stopped: Mapping[float, BoolArray],
        metres_outside: Callable[[], FloatArray],
    ) -> None:
        self.speed_kmh = speed_kmh
        self.accuracy_m = accuracy_m
        self.driving_mode = driving_mode
        self.vehicle_class = vehicle_class
        self.operator_id = operator_id
        self.minute_of_week = minute_of_week
        self.stopped = stopped
        """Per stop threshold (km/h) a kind asked for: whether the vehicle is stopped."""
        self._metres_outside = metres_outside
        self._outside: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.speed_kmh)

    def metres_outside(self) -> FloatArray:
        """Metres outside the vehicle zone's boundary (0 inside a boundary)."""
        if self._outside is None:
            self._outside = self._metres_outside()
        return self._outside


def seconds(ms: int) -> str:
    """Milliseconds as seconds without trailing zeros: 14000 -> "14", 1500 -> "1.5"."""
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".")


def one_decimal(value: float) -> str:
    """One decimal, without a trailing ".0"."""
    return f"{value:.1f}".removesuffix(".0")


class RuleKind(Generic[R]):
    """One rule kind. Subclasses set the class attributes and override what differs.

    The defaults describe the plainest kind: evaluated as runs, no grace, no parameters to
    prepare, peak in seconds, nothing observed beyond the run's duration.
    """

    name: str
    model: type[R]
    overriding: bool
    """True: at a point one rule of the kind wins (``winning_rule``); False: every rule in
    force applies on its own (``independent_rules``)."""
    evaluation: Evaluation = "run"
    peak_unit: str = "s"
    """What an incident's ``peak_value`` measures (``s``: seconds the condition held)."""
    grace_exclusive: bool = False
    """True: a run becomes an incident only at a fix *more than* the grace after its start."""
    only_outside_boundary: bool = False
    """True: in force only where the vehicle is outside the zone's boundary."""
    crossable: bool = False
    """True: entering the rule's areas between two fixes outside them is also an incident."""
    reads_operator: bool = False
    """True: the condition looks the operator up, and is fastest asked of one operator's fixes
    at a time (a replay's bucket holds many operators' vehicles)."""
    subject_needed: str | None = None
    """What a rule of the kind is about, if rules override only rules about the same thing
    (the phrase for the error when it is missing)."""

    def parameters(self, rule: R) -> str:
        """The rule's key parameters as a short phrase for people (``30 km/h``)."""
        raise NotImplementedError

    def grace_ms(self, rule: R) -> int:
        """How long a run must last before it is an incident."""
        return 0

    def prepare(self, rule: R, zone: ZoneFacts) -> Any:
        """Tables the condition looks up by array index, built once per zone and rule."""
        return None

    def condition(self, rule: R, prepared: Any, fixes: Fixes) -> tuple[BoolArray, FloatArray | None]:
        """Per fix, whether the condition holds where the rule is in force, and the values
        whose maximum is the peak (None: the peak is the seconds the condition held)."""
        raise NotImplementedError(f"{self.name} rules are not evaluated as runs")

    def detail(self, rule: R, prepared: Any, fixes: Fixes, row: int) -> str:
        """What was observed at the fix a run starts at, for the explanation."""
        return ""

    def observed(self, rule: R, *, area: str | None, detail: str, peak: float, duration: str) -> str:
        """What the vehicle did, as the first half of an incident's explanation."""
        return f"{detail} for {duration} s"

    def stop_threshold_kmh(self, rule: R) -> float | None:
        """A speed below which the vehicle counts as stopped, if the condition needs one."""
        return None

    def subject(self, rule: R) -> str | None:
        """What the rule is about, among rules of its kind (see ``subject_needed``)."""
        return None

    def covers_initiator(self, rule: R, initiator: Initiator | str) -> bool:
        """Whether the rule applies to an event with this initiator."""
        return True

    def initiators_overlap(self, first: R, second: R) -> bool:
        """Whether two rules of the kind can both apply to one event's initiator."""
        return True

    def why_in_force(
        self, rule: R, *, place: str, vehicle_class: str, operators: Sequence[OperatorPermit]
    ) -> str:
        """Why an independent rule is in force at a point (``place``: "in school zone s1 ...")."""
        raise NotImplementedError(f"{self.name} rules override each other")

    def report_deadline_ms(self, rule: R, start_ms: int) -> int | None:
        """When the operator must have reported an incident that started at ``start_ms``."""
        return None

    def max_silence_ms(self, rule: R) -> int | None:
        """For a gap kind: the longest silence between fixes that is not an incident."""
        return None
