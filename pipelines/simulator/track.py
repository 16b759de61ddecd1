"""The values a simulated vehicle leaves behind: who it is, what it reported (``Track``) and
what the oracle found in it (``Finding``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Column types shared by the simulator's modules.
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class Identity:
    """Who a vehicle is, as every record it sends says; ``base_mode`` is its usual mode code."""

    vehicle_id: str
    operator_id: str
    vehicle_class: str
    base_mode: int


@dataclass
class Track:
    """One vehicle's samples as columns, before defects: what the evaluator checks."""

    identity: Identity
    t_ms: IntArray
    sent: BoolArray
    lon: FloatArray
    lat: FloatArray
    altitude: FloatArray
    heading: FloatArray
    accuracy: FloatArray
    speed_kmh: FloatArray
    mode: npt.NDArray[np.int8]
    events: dict[int, list[tuple[str, str | None]]]
    sequence0: int
    protected: BoolArray
    """Samples inside an injected violation (plus a margin): defects are kept off them."""


@dataclass(frozen=True)
class Finding:
    """One violation (or defect) in a track, as one line of the ground truth will tell it."""

    kind: str
    rule_id: str
    area: str | None
    start_ms: int
    end_ms: int
    detail: dict[str, Any]
