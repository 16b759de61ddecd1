"""A bucket's rules over all its vehicles' fixes: stop states, conditions, runs worth following.

Every kind's condition is per fix (a dwell's stop state, the one sequential input, is
computed here per vehicle), so each can be asked once for many vehicles' fixes, split by
operator (a permit is looked up per operator).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from pilotzone.zones.evaluate.runs import HOLD_MS
from pilotzone.zones.evaluate.tables import Plan
from pilotzone.zones.kinds.base import BoolArray, Fixes, FloatArray, IntArray
from pilotzone.zones.kinds.dwell import DWELL_RESUME_MARGIN_KMH


def stop_states_by_vehicle(
    speed: FloatArray, thresholds: Sequence[float], first: IntArray
) -> dict[float, BoolArray]:
    """``kinds.dwell.stop_states`` of each vehicle's fixes, ``first``: each fix's vehicle's first."""
    states: dict[float, BoolArray] = {}
    index = np.arange(len(speed))
    for low in thresholds:
        stop = speed < low
        decisive = stop | (speed >= low + DWELL_RESUME_MARGIN_KMH)
        latest = np.maximum.accumulate(np.where(decisive, index, -1))
        states[low] = (latest >= first) & stop[np.maximum(latest, 0)]
    return states


def bucket_conditions(
    plan: Plan, fixes: Fixes, in_force: BoolArray, ginv: IntArray, op_codes: tuple[list[str], IntArray]
) -> Iterator[tuple[int, BoolArray, FloatArray | None]]:
    """Per rule in force somewhere, in rule order, where it is violated (if anywhere) and its
    peak values, over all fixes.

    A kind whose condition looks the operator up (``RuleKind.reads_operator``) is asked once
    per operator among the fixes, on that operator's fixes: they are put in operator order
    once, so that each operator's are one slice. Every other kind is asked once.
    """
    rules = np.flatnonzero(in_force.any(axis=0)).tolist() if len(ginv) else []
    if not rules:
        return
    operators, op_code = op_codes
    n = len(fixes)
    by_operator: tuple[IntArray, list[tuple[slice, Fixes]]] | None = None
    for r in rules:
        ref = plan.rules[r]
        column = in_force[:, r]
        applies = None if bool(column.all()) else column[ginv]
        if ref.kind.reads_operator and len(operators) > 1:
            if by_operator is None:
                by_operator = _by_operator(fixes, op_code, len(operators))
            holds, values = _per_operator(plan, r, n, *by_operator)
        else:
            holds, values = ref.kind.condition(ref.rule, plan.prepared(ref), fixes)
        condition = np.asarray(holds, dtype=bool) if applies is None else applies & holds
        if condition.any():
            yield r, condition, values


def _by_operator(
    fixes: Fixes, op_code: IntArray, operators: int
) -> tuple[IntArray, list[tuple[slice, Fixes]]]:
    """The fixes in operator order, as one slice per operator, and where each fix went."""
    order = np.argsort(op_code, kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    in_order = take_fixes(fixes, order)
    bounds = np.searchsorted(op_code[order], np.arange(operators + 1)).tolist()
    return inverse, [(slice(a, b), take_fixes(in_order, slice(a, b))) for a, b in itertools.pairwise(bounds)]


def _per_operator(
    plan: Plan, r: int, n: int, inverse: IntArray, parts: list[tuple[slice, Fixes]]
) -> tuple[BoolArray, FloatArray | None]:
    """Rule ``r``'s condition and peak values asked of each operator's fixes, in fix order."""
    ref = plan.rules[r]
    holds = np.empty(n, dtype=bool)
    values: FloatArray | None = None
    for part, subset in parts:
        part_holds, part_values = ref.kind.condition(ref.rule, plan.prepared(ref), subset)
        holds[part] = part_holds
        if part_values is not None:
            if values is None:
                values = np.empty(n, dtype=np.float64)
            values[part] = part_values
    return holds[inverse], None if values is None else values[inverse]


def may_open(  # noqa: PLR0917 - a rule's violations and the columns that cut them into runs
    plan: Plan, r: int, condition: BoolArray, owner: IntArray, t: IntArray, gaps_before: IntArray
) -> IntArray:
    """The vehicles with a run of rule ``r`` that lasts at least its grace.

    The runs are those ``runs.segments_of`` finds in a fresh evaluator's chunk (a gap, a
    change of vehicle, or ``HOLD_S`` without a violating fix ends one). A run shorter than
    the grace never becomes an incident, and leaves no record and no window figure, so only
    these vehicles need their runs of the rule tracked.
    """
    rows = np.flatnonzero(condition)
    p, j = rows[:-1], rows[1:]
    join = (
        (owner[j] == owner[p])
        & (gaps_before[j] == gaps_before[p])
        & ((j == p + 1) | (t[j] - t[np.minimum(p + 1, len(t) - 1)] < HOLD_MS))
    )
    firsts = np.flatnonzero(np.concatenate([[True], ~join]))
    lasts = np.concatenate([firsts[1:], [len(rows)]]) - 1
    ref = plan.rules[r]
    span = t[rows[lasts]] - t[rows[firsts]]
    may: IntArray = np.unique(owner[rows[firsts[span >= ref.kind.grace_ms(ref.rule)]]])
    return may


def take_fixes(fixes: Fixes, rows: npt.NDArray[np.intp] | slice) -> Fixes:
    """The selected fixes (an index array, or a slice: views)."""
    whole = fixes.metres_outside
    return Fixes(
        speed_kmh=fixes.speed_kmh[rows],
        accuracy_m=fixes.accuracy_m[rows],
        driving_mode=fixes.driving_mode[rows],
        vehicle_class=fixes.vehicle_class[rows],
        operator_id=fixes.operator_id[rows],
        minute_of_week=fixes.minute_of_week[rows],
        stopped={low: states[rows] for low, states in fixes.stopped.items()},
        metres_outside=lambda: whole()[rows],
    )
