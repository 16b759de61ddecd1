"""One attempt at one vehicle: its true motion with the planned injections, then what its
sensors report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pilotzone.pipelines.simulator.injection import (
    Drive,
    NoPlaceError,
    Special,
    Timed,
    choose_class,
    plan_injection,
)
from pilotzone.pipelines.simulator.motion import densify, plan_motion
from pilotzone.pipelines.simulator.profiles import AUTONOMOUS, MANUAL, MODE_CODE
from pilotzone.pipelines.simulator.routing import build_route
from pilotzone.pipelines.simulator.track import BoolArray, FloatArray, Identity, Track
from pilotzone.pipelines.simulator.zone_model import ZoneModel
from pilotzone.zones.model import EventKind, VehicleEventRule


@dataclass
class Truth:
    """What the vehicle really did at each sample time, before sensors and uploads."""

    x: FloatArray
    y: FloatArray
    v: FloatArray
    heading: FloatArray
    mode: npt.NDArray[np.int8]
    events: dict[int, list[tuple[str, str | None]]]
    sent: BoolArray
    protected: BoolArray
    """Samples inside an injection (plus a margin): nothing else is placed there."""
    ordinary: BoolArray
    """Samples where the vehicle is moving on an ordinary part of its route."""


def generate(
    model: ZoneModel, rng: np.random.Generator, vehicle_id: str, kinds: Sequence[str]
) -> tuple[Track, list[tuple[str, str]]]:
    """One attempt at a vehicle with the given injections; returns the track and the kinds
    that could not even be planned (with why)."""
    vehicle_class, planned, failures = choose_class(model, rng, list(kinds))
    policy = model.policy(vehicle_class)
    profile = policy.profile
    cruise_hi = min(profile.cruise_kmh[1], policy.cap_kmh)
    drive = Drive(
        model, rng, policy, float(rng.uniform(min(profile.cruise_kmh[0], cruise_hi * 0.85), cruise_hi))
    )
    operator_id = (
        str(rng.choice(policy.operators)) if policy.operators else "op-unlicensed-" + vehicle_id[-4:]
    )
    base_mode = int(rng.choice(policy.modes, p=mode_weights(policy.modes)))
    specials: list[Special] = []
    timed = Timed()
    for kind in planned:
        reason = plan_injection(drive, kind, specials, timed)
        if reason is not None:
            failures.append((kind, reason))
    for tag, special in enumerate(specials, start=1):
        special.tag = tag
        if special.mode is not None:
            base_mode = special.mode
    needs_autonomy = timed.event is not None or timed.stop_event is not None or timed.mode_stretch is not None
    if needs_autonomy and AUTONOMOUS in policy.modes and all(s.mode is None for s in specials):
        base_mode = AUTONOMOUS
    if not planned and rng.random() < 0.03 and EventKind.HARSH_BRAKING not in covered_events(model):
        timed.background_event = "HARSH_BRAKING"
    identity = Identity(vehicle_id, timed.operator_id or operator_id, vehicle_class, base_mode)
    truth = drive_route(drive, specials, timed, base_mode)
    apply_timed(drive, truth, timed)
    return observe(model, rng, identity, truth), failures


def drive_route(drive: Drive, specials: Sequence[Special], timed: Timed, base_mode: int) -> Truth:
    """The vehicle's true motion at every sample time, with its excursions and any stop the
    plan adds (an overlong dwell, the stop after a minimal-risk manoeuvre or a collision)."""
    model, rng, policy = drive.model, drive.rng, drive.policy
    profile = policy.profile
    duration = model.n / model.rate
    t_offset = float(rng.uniform(20, 60))  # the vehicle is already driving when the window opens
    t_needed = t_offset + duration + 1
    needed = (drive.cruise_kmh / 3.6) * 0.6 * t_needed + 300
    for _extension in range(6):
        route = build_route(drive, needed, specials)
        dense = densify(route, profile, policy)
        motion = plan_motion(dense, profile)
        if motion.t_end >= t_needed:
            break
        needed *= 1.6
    else:
        raise NoPlaceError(None, "the route ran out before the simulated window ended")
    tau = t_offset + np.arange(model.n) / model.rate
    mode = np.full(model.n, base_mode, dtype=np.int8)
    events: dict[int, list[tuple[str, str | None]]] = {}
    protected = np.zeros(model.n, dtype=np.bool_)
    if timed.stop_s > 0:
        kind = "dwell" if timed.stop_event is None else "vehicle_event"
        fi = np.interp(tau, motion.knot_t, motion.knot_i)
        moving = np.interp(fi, np.arange(len(motion.v), dtype=np.float64), motion.v) > 1.0
        k = pick_sample(rng, moving & (dense.tag[np.rint(fi).astype(np.int64)] == 0), within=(0.2, 0.55))
        if k is None:
            raise NoPlaceError(kind, "no moving stretch to stop on")
        stop_index = round(float(np.interp(tau[k], motion.knot_t, motion.knot_i)))
        dense = densify(route, profile, policy, extra_stop=(stop_index, timed.stop_s))
        motion = plan_motion(dense, profile)
        if motion.t_end < t_needed:
            raise NoPlaceError(None, "the route ran out after the added stop")
        arrive = float(motion.knot_t[np.searchsorted(motion.knot_i, stop_index)])
        leave = arrive + timed.stop_s
        protected |= (tau >= arrive - 30) & (tau <= leave + 30)
        if timed.stop_event is not None:
            # A minimal-risk manoeuvre is the braking to a stop; a collision ends the drive there.
            lead = 8.0 if timed.stop_mode is not None else 1.0
            k = min(max(int(np.searchsorted(tau, arrive - lead)), 0), model.n - 1)
            events.setdefault(k, []).append(timed.stop_event)
            if timed.stop_mode is not None:
                mode[k : int(np.searchsorted(tau, leave))] = timed.stop_mode
    fi = np.interp(tau, motion.knot_t, motion.knot_i)
    idx = np.arange(len(dense.x), dtype=np.float64)
    sample_tag = dense.tag[np.rint(fi).astype(np.int64)]
    protected |= sample_tag > 0
    for special in specials:
        inside = np.flatnonzero(sample_tag == special.tag)
        if special.event is not None and inside.size:
            events.setdefault(int(inside[inside.size // 2]), []).append(special.event)
    moving = (np.interp(fi, idx, motion.v) > 1.0) & (sample_tag == 0)
    return Truth(
        x=np.interp(fi, idx, dense.x),
        y=np.interp(fi, idx, dense.y),
        v=np.interp(fi, idx, motion.v),
        heading=np.interp(fi, idx, dense.heading_unwrapped) % 360.0,
        mode=mode,
        events=events,
        sent=np.ones(model.n, dtype=np.bool_),
        protected=protected,
        ordinary=moving,
    )


def apply_timed(drive: Drive, truth: Truth, timed: Timed) -> None:
    """Injections placed in time: an event (with the mode changes it brings), a stretch in a
    forbidden mode, background harsh braking, and a telemetry gap."""
    model, rng = drive.model, drive.rng
    rate = model.rate
    mode, protected = truth.mode, truth.protected
    if timed.event is not None or timed.mode_stretch is not None or timed.background_event is not None:
        k = pick_sample(rng, truth.ordinary & ~protected, within=(0.2, 0.6))
        if k is None:
            raise NoPlaceError("vehicle_event" if timed.event else "driving_mode", "no moving stretch for it")
        before = max(0, k - int(30 * rate))
        if timed.event is not None:
            truth.events.setdefault(k, []).append(timed.event)
            if timed.event[0] == "DISENGAGEMENT":
                handover = max(1, math.ceil(1.5 * rate))
                manual = int(rng.uniform(60, 240) * rate)
                mode[k : k + handover] = MODE_CODE["DISENGAGING"]
                mode[k + handover : k + handover + manual] = MANUAL
            elif timed.event[0] == "REMOTE_TAKEOVER":
                mode[k : k + int(rng.uniform(30, 120) * rate)] = MODE_CODE["REMOTE_OPERATED"]
            protected[before : k + int(300 * rate)] = True
        elif timed.mode_stretch is not None:
            stretch_mode, seconds = timed.mode_stretch
            mode[k : k + int(seconds * rate)] = stretch_mode
            protected[before : k + int((seconds + 30) * rate)] = True
        else:
            truth.events.setdefault(k, []).append(("HARSH_BRAKING", None))
    if timed.gap_s > 0:
        k = pick_sample(rng, truth.ordinary & ~protected, within=(0.25, 0.6))
        if k is None:
            raise NoPlaceError("telemetry_gap", "no place for the gap")
        if timed.gap_resumes:
            truth.sent[k + 1 : k + 1 + int(timed.gap_s * rate)] = False
        else:
            truth.sent[k + 1 :] = False
        protected[max(0, k - int(30 * rate)) : k + int((timed.gap_s + 30) * rate)] = True


def pick_sample(
    rng: np.random.Generator, candidates: BoolArray, *, within: tuple[float, float]
) -> int | None:
    """One of the candidate samples between two fractions of the window, at random."""
    ok = candidates.copy()
    n = len(ok)
    ok[: int(within[0] * n)] = False
    ok[int(within[1] * n) :] = False
    choices = np.flatnonzero(ok)
    if choices.size == 0:
        return None
    return int(choices[int(rng.integers(choices.size))])


def covered_events(model: ZoneModel) -> set[str]:
    """Events some vehicle_event rule of the zone covers: background events must avoid them."""
    return {
        r.event.value for r in model.zone.rules_of_kind("vehicle_event") if isinstance(r, VehicleEventRule)
    }


def mode_weights(modes: Sequence[int]) -> list[float]:
    """How often each usable mode is a vehicle's usual one: mostly autonomous, as in a pilot zone."""
    weights = [0.88 if m == AUTONOMOUS else 0.12 for m in modes]
    total = sum(weights)
    return [w / total for w in weights]


def observe(
    model: ZoneModel,
    rng: np.random.Generator,
    identity: Identity,
    truth: Truth,
) -> Track:
    """What the vehicle reports: the true motion seen through a GNSS receiver and odometry.

    GNSS error wanders slowly rather than jumping each second, so it is white noise
    smoothed over several seconds, scaled to the accuracy the receiver reports.
    """
    n = model.n
    rate = model.rate
    x, y, v, heading = truth.x, truth.y, truth.v, truth.heading
    accuracy = np.round(
        np.clip(float(rng.uniform(1.0, 3.0)) * np.exp(0.25 * smooth_noise(rng, n, 60 * rate)), 1.0, 5.0), 1
    ).astype(np.float32)
    sigma = accuracy.astype(np.float64) / math.sqrt(2)
    ex = sigma * smooth_noise(rng, n, 8 * rate)
    ey = sigma * smooth_noise(rng, n, 8 * rate)
    lon, lat = model.frame.to_lonlat(x + ex, y + ey)
    lon, lat = np.round(lon, 7), np.round(lat, 7)
    moving = v > 0.3
    speed = np.where(moving, v * 3.6 + rng.normal(0, 0.15, n), np.where(v < 0.05, 0.0, v * 3.6))
    speed = np.maximum(np.round(speed, 2), 0.0).astype(np.float32).astype(np.float64)
    noisy_heading = np.where(moving, heading + rng.normal(0, 0.8, n), heading)
    noisy_heading = np.round(noisy_heading % 360.0, 1) % 360.0
    heading32 = noisy_heading.astype(np.float32).astype(np.float64)
    if rng.random() < 0.15:
        altitude = np.full(n, np.nan)
    else:
        terrain = 40.0 + 12.0 * np.sin(x / 900.0) * np.cos(y / 700.0)
        altitude = np.round(terrain + 1.5 * sigma * smooth_noise(rng, n, 5 * rate), 1)
        altitude[rng.random(n) < 0.005] = np.nan
    return Track(
        identity=identity,
        t_ms=model.t_ms,
        sent=truth.sent,
        lon=lon,
        lat=lat,
        altitude=altitude,
        heading=heading32,
        accuracy=accuracy.astype(np.float64),
        speed_kmh=speed,
        mode=truth.mode,
        events=truth.events,
        sequence0=int(rng.integers(0, 5_000_000)),
        protected=truth.protected,
    )


def smooth_noise(rng: np.random.Generator, n: int, width: float) -> FloatArray:
    """Unit-variance noise correlated over about ``width`` samples."""
    w = max(1, round(width))
    white = rng.normal(0.0, 1.0, n + w - 1)
    return np.convolve(white, np.ones(w) / math.sqrt(w), mode="valid")
