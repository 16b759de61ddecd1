"""The simulator's ground truth (its oracle), checked on hand-made tracks with exact findings.

The oracle is what the monitor's tests trust, so each case here is worked out by hand from
the test zone's rules (``every-kind-zone.yaml``): a zone-wide limit of 50 km/h with 5 km/h
tolerance and 5 s grace, telemetry gaps of at most 10 s, a Monday 10:00 start in Seoul.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pilotzone.pipelines.simulator import SimulationOptions
from pilotzone.pipelines.simulator.oracle import ORACLES, evaluate
from pilotzone.pipelines.simulator.profiles import MODE_CODE
from pilotzone.pipelines.simulator.track import Finding, Identity, Track
from pilotzone.pipelines.simulator.zone_model import ZoneModel
from pilotzone.zones.loader import load_zone
from pilotzone.zones.model import RULE_KINDS

ZONE_FILE = Path(__file__).parents[1] / "every-kind-zone.yaml"
SAMPLES = 120
OPEN_ROAD = (126.860, 35.170)
"""Inside the boundary and outside every area: only zone-wide rules apply."""


@pytest.fixture(scope="module")
def model() -> ZoneModel:
    options = SimulationOptions(vehicles=1, duration_s=SAMPLES, rate_hz=1.0, seed=0)
    return ZoneModel(load_zone(ZONE_FILE), options)


def cruising(model: ZoneModel, kmh: float = 40.0) -> Track:
    """A permitted robotaxi standing in for a drive: autonomous, on the open road, every sample sent."""
    n = model.n
    return Track(
        identity=Identity("veh-test", "op-taxi", "ROBOTAXI", MODE_CODE["AUTONOMOUS"]),
        t_ms=model.t_ms,
        sent=np.ones(n, dtype=np.bool_),
        lon=np.full(n, OPEN_ROAD[0]),
        lat=np.full(n, OPEN_ROAD[1]),
        altitude=np.full(n, 40.0),
        heading=np.zeros(n),
        accuracy=np.ones(n),
        speed_kmh=np.full(n, kmh),
        mode=np.full(n, MODE_CODE["AUTONOMOUS"], dtype=np.int8),
        events={},
        sequence0=0,
        protected=np.zeros(n, dtype=np.bool_),
    )


def test_every_rule_kind_has_an_oracle() -> None:
    assert set(ORACLES) == set(RULE_KINDS)


def test_a_compliant_track_has_no_findings(model: ZoneModel) -> None:
    assert evaluate(model, cruising(model)) == ([], False)


def test_speeding_beyond_the_grace_is_one_finding(model: ZoneModel) -> None:
    track = cruising(model)
    track.speed_kmh[20:30] = 70.0  # 20 s to 29 s: 9 s above 55 km/h
    t0 = int(model.t_ms[0])
    detail = {"peak_kmh": 70.0, "limit_kmh": 50, "tolerance_kmh": 5, "grace_s": 5}
    assert evaluate(model, track) == (
        [Finding("speed_limit", "speed-zone", None, t0 + 20_000, t0 + 29_000, detail)],
        False,
    )


def test_speeding_for_about_the_grace_is_too_close_to_call(model: ZoneModel) -> None:
    track = cruising(model)
    track.speed_kmh[20:26] = 70.0  # 20 s to 25 s: exactly the 5 s grace
    assert evaluate(model, track) == ([], True)


def test_a_silence_beyond_max_gap_is_one_finding(model: ZoneModel) -> None:
    track = cruising(model)
    track.sent[50:65] = False  # last sample at 49 s, next at 65 s
    t0 = int(model.t_ms[0])
    detail = {"gap_s": 16.0, "max_gap_s": 10, "resumed": True, "samples_not_sent": 15}
    assert evaluate(model, track) == (
        [Finding("telemetry_gap", "gap", None, t0 + 49_000, t0 + 65_000, detail)],
        False,
    )
