"""Speed along a route: dense points with rounded corners and stops, driven under speed caps,
the cornering limit and the class's acceleration limits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pilotzone.pipelines.simulator.profiles import ClassProfile
from pilotzone.pipelines.simulator.routing import Route
from pilotzone.pipelines.simulator.track import FloatArray, IntArray
from pilotzone.pipelines.simulator.zone_model import Policy

DS_M = 1.0
"""Spacing of the dense route points the motion is computed on."""


@dataclass
class Dense:
    """A route as points every ``DS_M`` metres, with heading, curvature, speed cap, tag and stops."""

    x: FloatArray
    y: FloatArray
    step: FloatArray
    heading_unwrapped: FloatArray
    curvature: FloatArray
    cap: FloatArray
    tag: IntArray
    stop_index: IntArray
    stop_s: FloatArray


def densify(
    route: Route, profile: ClassProfile, policy: Policy, extra_stop: tuple[int, float] | None = None
) -> Dense:
    """Points every metre along the route, corners rounded by smoothing, with stops added."""
    a, b = route.points[:-1], route.points[1:]
    lengths = np.hypot(*(b - a).T)
    counts = np.maximum(1, np.ceil(lengths / DS_M).astype(np.int64))
    leg = np.repeat(np.arange(len(lengths)), counts)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    frac = (np.arange(offsets[-1]) - offsets[leg]) / counts[leg]
    pts = a[leg] + frac[:, None] * (b[leg] - a[leg])
    pts = np.vstack((pts, route.points[-1:]))
    cap = np.append(route.cap_kmh[leg], route.cap_kmh[-1]) / 3.6
    tag = np.append(route.tag[leg], route.tag[-1])
    window = max(1, int(profile.smooth_m / DS_M)) | 1
    x, y = pts[:, 0], pts[:, 1]
    for _ in range(2):
        x, y = moving_average(x, window), moving_average(y, window)
    step = np.hypot(np.diff(x), np.diff(y))
    dx, dy = np.diff(x), np.diff(y)
    raw = np.arctan2(dx, dy)
    moving = step > 1e-6
    if not moving.any():
        raw[:] = 0.0
    else:
        # Carry the last known heading over zero-length steps (the tip of a U-turn).
        last = np.maximum.accumulate(np.where(moving, np.arange(len(raw)), -1))
        first = int(np.argmax(moving))
        raw = raw[np.where(last >= 0, last, first)]
    heading = np.unwrap(np.append(raw, raw[-1]))
    turn = np.abs(np.diff(heading))
    curvature = np.append(turn / np.maximum(step, 0.05), 0.0)
    curvature = moving_average(curvature, 5)
    stop_index = offsets[1:][route.stop_s > 0]
    stop_s = route.stop_s[route.stop_s > 0]
    scheduled = scheduled_stops(profile, policy, step, tag, np.concatenate((stop_index, [0])))
    stop_index = np.concatenate((stop_index, scheduled[0]))
    stop_s = np.concatenate((stop_s, scheduled[1]))
    if extra_stop is not None:
        stop_index = np.append(stop_index, extra_stop[0])
        stop_s = np.append(stop_s, extra_stop[1])
    order = np.argsort(stop_index, kind="stable")
    stop_index, stop_s = stop_index[order], stop_s[order]
    keep = np.concatenate(([True], np.diff(stop_index) > 0)) & (stop_index > 0) & (stop_index < len(x) - 1)
    return Dense(
        x, y, step, np.degrees(heading), curvature, cap, tag, stop_index[keep].astype(np.int64), stop_s[keep]
    )


def moving_average(values: FloatArray, window: int) -> FloatArray:
    """A centred moving average that keeps the ends in place (edge padding)."""
    if window <= 1:
        return values
    padded = np.pad(values, window // 2, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def scheduled_stops(
    profile: ClassProfile, policy: Policy, step: FloatArray, tag: IntArray, taken: IntArray
) -> tuple[IntArray, FloatArray]:
    """Regular stops (bus stops, pick-ups, doors), deterministic from the route itself.

    They are spaced by the class's typical distance, kept off excursions and shorter than
    any dwell limit, and drawn from a generator seeded by the route so that adding an
    excursion stop does not move them.
    """
    rng = np.random.default_rng([len(step), int(step.sum() * 1000) % (2**31)])
    s = np.concatenate(([0.0], np.cumsum(step)))
    lo, hi = profile.stop_every_m
    marks = np.cumsum(rng.uniform(lo, hi, int(s[-1] / lo) + 2))
    marks = marks[marks < s[-1] - 50]
    index = np.searchsorted(s, marks)
    near_special = np.zeros(len(s), dtype=np.bool_)
    special = np.flatnonzero(tag > 0)
    if special.size:
        near_special[special] = True
        near_special = np.convolve(near_special, np.ones(201), mode="same") > 0
    index = index[~near_special[index]]
    if taken.size:
        close = (
            np.min(np.abs(index[:, None] - taken[None, :]), axis=1) < 50 if index.size else np.array([], bool)
        )
        index = index[~close] if index.size else index
    top = min(profile.stop_s[1], policy.max_stop_s)
    bottom = min(profile.stop_s[0], top * 0.5)
    return index.astype(np.int64), rng.uniform(bottom, top, len(index))


@dataclass
class Motion:
    """Speed at each dense point, and time as a piecewise-linear map to dense-point index (knots)."""

    v: FloatArray
    knot_t: FloatArray
    knot_i: FloatArray

    @property
    def t_end(self) -> float:
        return float(self.knot_t[-1])


def plan_motion(dense: Dense, profile: ClassProfile) -> Motion:
    """Speed along the route under the caps, the cornering limit and acceleration limits.

    With u = v², accelerating at most ``a`` means u[i] <= u[j] + 2a(s[i] - s[j]) for j < i, so
    the fastest profile under a cap is a running minimum: vectorised, no per-point loop.
    """
    s = np.concatenate(([0.0], np.cumsum(dense.step)))
    corner = np.sqrt(profile.lateral / np.maximum(dense.curvature, 1e-6))
    cap = np.minimum(dense.cap, corner)
    ucap = cap**2
    ucap[0] = 0.0
    ucap[-1] = 0.0
    ucap[dense.stop_index] = 0.0
    climb = 2 * profile.accel * s
    forward = climb + np.minimum.accumulate(ucap - climb)
    brake = 2 * profile.decel * s
    backward = np.minimum.accumulate((ucap + brake)[::-1])[::-1] - brake
    v = np.sqrt(np.maximum(np.minimum(forward, backward), 0.0))
    mean = np.maximum((v[:-1] + v[1:]) / 2, 0.05)
    t = np.concatenate(([0.0], np.cumsum(dense.step / mean)))
    dwell_before = np.zeros(len(s))
    np.add.at(dwell_before, np.minimum(dense.stop_index + 1, len(s) - 1), dense.stop_s)
    t = t + np.cumsum(dwell_before)
    index = np.arange(len(s), dtype=np.float64)
    knot_t = np.insert(t, dense.stop_index + 1, t[dense.stop_index] + dense.stop_s)
    knot_i = np.insert(index, dense.stop_index + 1, dense.stop_index.astype(np.float64))
    return Motion(v, knot_t, knot_i)
