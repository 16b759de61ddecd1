"""permit: a vehicle whose operator, or whose class for that operator, no permit of the zone covers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pilotzone.schemas.batch import VEHICLE_CLASSES
from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, RuleKind, ZoneFacts
from pilotzone.zones.terms import OperatorPermit, RuleBase


class PermitRule(RuleBase):
    """A vehicle whose operator, or whose class for that operator, the zone's permits do not cover."""

    kind: Literal["permit"] = "permit"


@dataclass(frozen=True)
class Permits:
    """The zone's permits: per operator id, which vehicle classes (by schema code) it may run."""

    classes: dict[str, BoolArray]
    operators: dict[str, OperatorPermit]


class Permit(RuleKind[PermitRule]):
    """Not permitted; one incident per stretch of continuous observation (grace 0); peak = seconds."""

    reads_operator = True

    name = "permit"
    model = PermitRule
    overriding = False

    def parameters(self, rule: PermitRule) -> str:
        return "operator permits"

    def prepare(self, rule: PermitRule, zone: ZoneFacts) -> Permits:
        classes = {
            op.id: np.array([c in op.vehicle_classes for c in VEHICLE_CLASSES], dtype=bool)
            for op in zone.operators
        }
        return Permits(classes, {op.id: op for op in zone.operators})

    def condition(self, rule: PermitRule, prepared: Any, fixes: Fixes) -> tuple[BoolArray, FloatArray | None]:
        permits: dict[str, BoolArray] = prepared.classes
        none = np.zeros(len(VEHICLE_CLASSES), dtype=bool)
        operators, classes = fixes.operator_id, fixes.vehicle_class
        if bool((operators == operators[0]).all()):
            permitted = permits.get(operators[0], none)[classes]
        else:
            permitted = np.array(
                [permits.get(op, none)[c] for op, c in zip(operators, classes.tolist(), strict=True)]
            )
        return ~permitted, None

    def detail(self, rule: PermitRule, prepared: Any, fixes: Fixes, row: int) -> str:
        operator = str(fixes.operator_id[row])
        vehicle_class = VEHICLE_CLASSES[int(fixes.vehicle_class[row])]
        permits: dict[str, OperatorPermit] = prepared.operators
        if operator not in permits:
            return f"operator {operator} (no permit in this zone) running a {vehicle_class}"
        classes = ", ".join(str(c) for c in permits[operator].vehicle_classes)
        return f"operator {operator} (permitted for {classes}) running a {vehicle_class}"

    def why_in_force(
        self, rule: PermitRule, *, place: str, vehicle_class: str, operators: Sequence[OperatorPermit]
    ) -> str:
        permitted = [op for op in operators if vehicle_class in op.vehicle_classes]
        if not permitted:
            return f"no operator holds a permit for {vehicle_class} vehicles in this zone"
        holders = ", ".join(
            op.id + (f" (max {op.max_vehicles})" if op.max_vehicles else "") for op in permitted
        )
        return f"{vehicle_class} vehicles may be run here only by {holders}"


KIND = Permit()
