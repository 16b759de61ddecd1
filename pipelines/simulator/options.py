"""What to simulate: the options of a run, their checks and defaults, and the codecs on offer."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import fastavro

from pilotzone.schemas.contract import telemetry_schema
from pilotzone.zones.loader import Zone
from pilotzone.zones.model import RULE_KINDS

DEFAULT_INJECT_RATES: dict[str, float] = {
    "speed_limit": 0.05,
    "leave_boundary": 0.02,
    "restricted_area": 0.03,
    "operating_hours": 0.02,
    "telemetry_gap": 0.03,
    "driving_mode": 0.02,
    "dwell": 0.03,
    "permit": 0.02,
    "vehicle_event": 0.05,
}
"""Fraction of each zone's vehicles that get one violation of each rule kind."""

DEFECT_KINDS: tuple[str, ...] = ("nan", "out_of_range", "duplicate_sequence", "time_backwards")
"""Contract defects ``--defects`` injects, named like the validator's checks (``schemas.checks``)."""

DEFAULT_LOCAL_START = dt.datetime(2026, 11, 23, 10, 0)
"""A Monday 10:00 in each zone's own timezone: inside any sensible daytime operating hours."""


_CODEC_CANDIDATES = ("null", "deflate", "snappy", "zstandard", "lz4", "bzip2", "xz")


class SimulationError(ValueError):
    """Options or zones the simulator cannot work with; the message says what to change."""


@dataclass(frozen=True)
class SimulationOptions:
    """What to simulate. ``start`` None means ``DEFAULT_LOCAL_START`` in each zone's timezone;
    a naive ``start`` is read in the zone's timezone too."""

    vehicles: int
    duration_s: float
    rate_hz: float
    seed: int
    start: dt.datetime | None = None
    slice_s: int = 60
    codec: str = "deflate"
    inject: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_INJECT_RATES))
    defects: float = 0.0
    workers: int = 1

    def problems(self) -> list[str]:
        """Every reason these options cannot run, phrased as what to change."""
        found: list[str] = []
        if self.vehicles < 1:
            found.append(f"--vehicles {self.vehicles}: simulate at least 1 vehicle")
        if not self.rate_hz > 0 or self.rate_hz > 100:
            found.append(f"--rate {self.rate_hz}: give a sampling rate in Hz between 0 and 100")
        elif not self.duration_s * self.rate_hz >= 2:
            found.append(f"--duration {self.duration_s}: give a duration of at least two samples")
        if self.slice_s < 1:
            found.append(f"--slice {self.slice_s}: give a slice length of at least 1 second")
        if self.codec not in available_codecs():
            found.append(f"--codec {self.codec}: choose one of {', '.join(available_codecs())}")
        for kind, rate in self.inject.items():
            if kind not in RULE_KINDS:
                found.append(f"--inject {kind}: unknown rule kind; use one of {', '.join(RULE_KINDS)} or all")
            elif not 0.0 <= rate <= 1.0:
                found.append(f"--inject {kind}={rate}: give a fraction of vehicles between 0 and 1")
        if not 0.0 <= self.defects <= 1.0:
            found.append(f"--defects {self.defects}: give a fraction of vehicles between 0 and 1")
        if self.workers < 1:
            found.append(f"--workers {self.workers}: use at least 1 worker")
        return found

    @property
    def samples_per_vehicle(self) -> int:
        """Samples each vehicle would send without gaps."""
        return math.floor(self.duration_s * self.rate_hz + 1e-9)


@dataclass(frozen=True)
class Progress:
    """How far a run is, for a progress line."""

    vehicles_done: int
    vehicles_total: int
    samples_written: int
    elapsed_s: float

    @property
    def samples_per_s(self) -> float:
        """Written samples per wall-clock second so far."""
        return self.samples_written / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first vehicle is done."""
        if self.vehicles_done == 0:
            return None
        return self.elapsed_s * (self.vehicles_total - self.vehicles_done) / self.vehicles_done


def available_codecs() -> tuple[str, ...]:
    """Avro codecs fastavro can write here: the built-in ones and those whose package is installed."""
    return _available_codecs()


def parse_inject(specs: Sequence[str]) -> dict[str, float]:
    """``["all=0.1", "speed_limit=0.5"]`` as rates per kind over the defaults.

    ``all`` sets every kind first, whatever its position, so a specific kind always wins.
    """
    rates = dict(DEFAULT_INJECT_RATES)
    specific: dict[str, float] = {}
    for spec in specs:
        kind, sep, value = spec.partition("=")
        kind = kind.strip()
        if not sep:
            raise SimulationError(f"--inject {spec!r}: write KIND=RATE, for example speed_limit=0.05")
        try:
            rate = float(value)
        except ValueError:
            raise SimulationError(f"--inject {spec!r}: {value!r} is not a number") from None
        if kind == "all":
            rates = dict.fromkeys(RULE_KINDS, rate)
        elif kind in RULE_KINDS:
            specific[kind] = rate
        else:
            raise SimulationError(
                f"--inject {spec!r}: unknown rule kind; use one of {', '.join(RULE_KINDS)} or all"
            )
    rates.update(specific)
    return rates


def default_start(zone: Zone) -> dt.datetime:
    """The default start of a run in a zone: ``DEFAULT_LOCAL_START`` on the zone's clock."""
    return DEFAULT_LOCAL_START.replace(tzinfo=zone.config.tz)


_CODECS: list[tuple[str, ...]] = []


def _available_codecs() -> tuple[str, ...]:
    if not _CODECS:
        usable = []
        for codec in _CODEC_CANDIDATES:
            try:
                fastavro.writer(io.BytesIO(), telemetry_schema(), [], codec=codec)
            except (ValueError, ImportError, NotImplementedError):
                continue
            usable.append(codec)
        _CODECS.append(tuple(usable))
    return _CODECS[0]
