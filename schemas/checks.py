"""What the telemetry contract requires beyond the Avro types, checked on columns.

Two families, because they need different context:

* **Record checks** look at one sample alone (NaN, values out of range, empty ids). A sample
  that fails one cannot be placed or evaluated, so the pipeline dead-letters it.
* **Stream checks** look at one vehicle's samples together, in the order they were sent:
  timestamps going backwards, duplicate and missing sequence numbers, and jumps between fixes
  that no vehicle could drive. These describe the feed's quality, so ``pilotzone validate``
  reports them to the maker; the pipeline handles reordering and duplicates itself.

Ranges are the physical ranges of the quantities with generous margins; they catch unit and
encoding mistakes (radians for degrees, m/s for km/h overflow, 0/0), not driving behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from pilotzone.geo import haversine_m
from pilotzone.schemas.batch import DRIVING_MODES, NO_LEVEL, TelemetryBatch
from pilotzone.schemas.limits import MAX_EVENTS_PER_SAMPLE, MAX_ID_LENGTH


class Check(StrEnum):
    """Stable names of contract checks; they appear in reports and as dead-letter reasons."""

    NAN = "nan"
    OUT_OF_RANGE = "out_of_range"
    MISSING_ID = "missing_id"
    INVALID_ID = "invalid_id"
    """An id with control, format or other unprintable characters (NUL, newline, bidi overrides)."""
    ID_TOO_LONG = "id_too_long"
    """An id longer than ``MAX_ID_LENGTH`` characters."""
    TOO_MANY_EVENTS = "too_many_events"
    """A sample with more than ``MAX_EVENTS_PER_SAMPLE`` events."""
    INCONSISTENT_MODE = "inconsistent_mode"
    TIME_BACKWARDS = "time_backwards"
    DUPLICATE_SEQUENCE = "duplicate_sequence"
    MISSING_SEQUENCE = "missing_sequence"
    IMPLAUSIBLE_JUMP = "implausible_jump"


RECORD_CHECKS: frozenset[Check] = frozenset(
    {
        Check.NAN,
        Check.OUT_OF_RANGE,
        Check.MISSING_ID,
        Check.INVALID_ID,
        Check.ID_TOO_LONG,
        Check.TOO_MANY_EVENTS,
        Check.INCONSISTENT_MODE,
    }
)
"""Checks that make a single record unusable (dead-lettered by the pipeline)."""


@dataclass(frozen=True)
class Finding:
    """One problem found at one sample (``row`` is the position in the checked batch)."""

    row: int
    check: Check
    message: str


@dataclass(frozen=True)
class Range:
    """The accepted closed interval of one numeric column, with its unit for messages."""

    column: str
    field: str
    low: float
    high: float
    unit: str


RANGES: tuple[Range, ...] = (
    Range("latitude", "current_location_latitude", -90.0, 90.0, "degrees"),
    Range("longitude", "current_location_longitude", -180.0, 180.0, "degrees"),
    Range("heading", "current_location_heading", 0.0, 360.0, "degrees"),
    Range("accuracy", "current_location_horizontal_accuracy", 0.0, 10_000.0, "m"),
    Range("speed_kmh", "speed", 0.0, 400.0, "km/h"),
    Range("altitude", "current_location_altitude", -500.0, 9_000.0, "m"),
    Range(
        "time_ms",
        "current_location_timestamp",
        946_684_800_000,
        4_102_444_800_000,
        "ms since epoch (2000-2100)",
    ),
    Range("sequence_number", "sequence_number", 0, 2**62, ""),
)

MAX_PLAUSIBLE_SPEED_MPS = 70.0
"""250 km/h: no pilot-zone vehicle drives faster, so a faster jump between fixes is a bad fix."""

_AUTONOMOUS = DRIVING_MODES.index("AUTONOMOUS")
_MANUAL = DRIVING_MODES.index("MANUAL")
_SYSTEM_DRIVES = 3
"""SAE levels 3-5 mean the automated system drives: a MANUAL sample cannot have one active.
(Levels 1-2 are driver assistance, which a human driving manually may well have switched on.)"""


def id_problem(value: str) -> Check | None:
    """What is wrong with one id, if anything: empty, unprintable characters, or too long.

    ``str.isprintable`` is False for control characters (NUL, newline, DEL, C1), format
    characters (bidi overrides, zero-width joiners), surrogates, private-use and unassigned code
    points and every space but U+0020: none belongs in a pseudonym, and each lets two ids that
    look alike count as different vehicles (or a NUL-terminated reader see one as the other).
    """
    if not value or value.isspace():
        return Check.MISSING_ID
    if len(value) > MAX_ID_LENGTH:
        return Check.ID_TOO_LONG
    if not value.isprintable():
        return Check.INVALID_ID
    return None


def shown_id(value: str) -> str:
    """An id as reports and dead letters show it: at most ``MAX_ID_LENGTH`` characters, so a 1 MB
    id stays a line, and unprintable characters escaped (``\\x00``, ``\\u202e``), so a NUL or a
    bidi override cannot hide or reorder text in a terminal."""
    shown = value if len(value) <= MAX_ID_LENGTH else value[:MAX_ID_LENGTH] + "..."
    return shown if shown.isprintable() else shown.encode("unicode_escape").decode("ascii")


def _id_message(column: str, value: str, problem: Check) -> str:
    if problem is Check.MISSING_ID:
        return f"{column} is empty: every sample must name its {column[:-3]}"
    if problem is Check.ID_TOO_LONG:
        return f"{column} has {len(value)} characters (at most {MAX_ID_LENGTH}): send the pseudonym only"
    return f"{column} {value[:MAX_ID_LENGTH]!r} has control or unprintable characters: send printable text"


def record_findings(batch: TelemetryBatch) -> list[Finding]:
    """Every record-level problem in the batch, ordered by row; a row may have several."""
    if _all_records_valid(batch):
        return []
    findings: list[Finding] = []
    present = {"altitude": batch.has_altitude}
    for spec in RANGES:
        values = getattr(batch, spec.column)
        relevant = present.get(spec.column, np.ones(len(batch), dtype=np.bool_))
        if values.dtype.kind == "f":
            not_finite = relevant & ~np.isfinite(values)
            findings.extend(
                Finding(int(row), Check.NAN, f"{spec.field} is {values[row]}: send a finite number")
                for row in np.flatnonzero(not_finite)
            )
            checkable = relevant & np.isfinite(values)
        else:
            checkable = relevant
        outside = checkable & ((values < spec.low) | (values > spec.high))
        findings.extend(
            Finding(
                int(row),
                Check.OUT_OF_RANGE,
                f"{spec.field} = {values[row]} is outside {spec.low:g}..{spec.high:g} {spec.unit}".rstrip(),
            )
            for row in np.flatnonzero(outside)
        )
    for column in ("vehicle_id", "operator_id"):
        values = getattr(batch, column)
        problems = {value: id_problem(value) for value in set(values.tolist())}
        findings.extend(
            Finding(row, problem, _id_message(column, value, problem))
            for row, value in enumerate(values.tolist())
            if (problem := problems[value]) is not None
        )
    per_sample = np.bincount(batch.event_row, minlength=len(batch))
    findings.extend(
        Finding(
            int(row),
            Check.TOO_MANY_EVENTS,
            f"{per_sample[row]} events in one sample (at most {MAX_EVENTS_PER_SAMPLE}): send each event once",
        )
        for row in np.flatnonzero(per_sample > MAX_EVENTS_PER_SAMPLE)
    )
    level = batch.autonomy_level
    bad_level = (level != NO_LEVEL) & ((level < 0) | (level > 5))
    findings.extend(
        Finding(int(row), Check.OUT_OF_RANGE, "active_autonomy_level is not an SAE level 0..5")
        for row in np.flatnonzero(bad_level)
    )
    manual_automated = (batch.driving_mode == _MANUAL) & (level >= _SYSTEM_DRIVES) & (level <= 5)
    findings.extend(
        Finding(
            int(row),
            Check.INCONSISTENT_MODE,
            f"driving_mode is MANUAL but active_autonomy_level is {level[row]}, a level at which the "
            "system drives: send the level actually active (null, 1 or 2) or the right mode",
        )
        for row in np.flatnonzero(manual_automated)
    )
    autonomous_without_level = (batch.driving_mode == _AUTONOMOUS) & (level == NO_LEVEL)
    findings.extend(
        Finding(
            int(row),
            Check.INCONSISTENT_MODE,
            "driving_mode is AUTONOMOUS but active_autonomy_level is null: send the SAE level",
        )
        for row in np.flatnonzero(autonomous_without_level)
    )
    findings.sort(key=lambda f: f.row)
    return findings


def _all_records_valid(batch: TelemetryBatch) -> bool:
    """Whether no record check can fail: a few whole-column reductions, no findings built.

    Nearly every batch is clean, and the decoder checks batches of a few dozen samples, for
    which the per-call cost of the full checks (findings, messages) was most of their cost.
    NaN fails the range comparisons (a column's min or max is NaN), so it is caught here too.
    """
    if len(batch) == 0:
        return True
    # Column by column: stacking the columns first copied every one of them, and on a large
    # batch that copy cost more than the comparisons.
    if not all(_in_range(getattr(batch, spec.column), spec) for spec in _FLOAT_RANGES + _INT_RANGES):
        return False
    altitude = batch.altitude if batch.has_altitude.all() else batch.altitude[batch.has_altitude]
    if not _in_range(altitude, _ALTITUDE):
        return False
    for column in (batch.vehicle_id, batch.operator_id):
        if any(id_problem(value) for value in _distinct(column)):
            return False
    if (
        len(batch.event_row) > MAX_EVENTS_PER_SAMPLE
        and np.bincount(batch.event_row).max() > MAX_EVENTS_PER_SAMPLE
    ):
        return False
    level = batch.autonomy_level
    if level.min() < NO_LEVEL or level.max() > 5:
        return False
    if level.max() >= _SYSTEM_DRIVES and ((batch.driving_mode == _MANUAL) & (level >= _SYSTEM_DRIVES)).any():
        return False
    return level.min() > NO_LEVEL or not ((batch.driving_mode == _AUTONOMOUS) & (level == NO_LEVEL)).any()


def _in_range(values: npt.NDArray[np.generic], spec: Range) -> bool:
    """Whether every value lies in the range; NaN does not (a NaN min or max compares False)."""
    return len(values) == 0 or bool(values.min() >= spec.low and values.max() <= spec.high)


def _distinct(ids: npt.NDArray[np.object_]) -> set[str]:
    """The distinct ids of a column, looking up only the first id of each run of equal ids
    (a vehicle's samples come in runs): the element-wise comparison runs in C."""
    if len(ids) < 2:
        return set(ids.tolist())
    heads = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    return {ids[0], *ids[heads].tolist()}


_FLOAT_RANGES = tuple(r for r in RANGES if r.column not in ("altitude", "time_ms", "sequence_number"))
_INT_RANGES = tuple(r for r in RANGES if r.column in ("time_ms", "sequence_number"))
(_ALTITUDE,) = (r for r in RANGES if r.column == "altitude")


def unusable_rows(findings: list[Finding], size: int) -> npt.NDArray[np.bool_]:
    """Mask of rows with at least one record-level finding."""
    mask = np.zeros(size, dtype=np.bool_)
    rows = [f.row for f in findings if f.check in RECORD_CHECKS]
    mask[rows] = True
    return mask


def stream_findings(batch: TelemetryBatch, skip: npt.NDArray[np.bool_] | None = None) -> list[Finding]:
    """Per-vehicle feed problems, with rows in arrival order.

    Rows in ``skip`` (records failing record checks) still count for sequence numbers and
    time order, since those fields are valid and a gap reported for them would be false,
    but their positions are not trusted for the jump check.
    """
    if len(batch) == 0:
        return []
    # On the object array itself: a fixed-width str copy would strip trailing NULs and merge ids.
    _, inverse = np.unique(batch.vehicle_id, return_inverse=True)
    trusted = ~skip if skip is not None else np.ones(len(batch), dtype=np.bool_)
    findings: list[Finding] = []
    # Stable sort by vehicle keeps each vehicle's samples in arrival order.
    order = np.argsort(inverse, kind="stable")
    boundaries = np.flatnonzero(np.diff(inverse[order])) + 1
    for rows in np.split(order, boundaries):
        findings.extend(_vehicle_findings(batch, rows, trusted[rows]))
    findings.sort(key=lambda f: (f.row, f.check))
    return findings


def _vehicle_findings(
    batch: TelemetryBatch, rows: npt.NDArray[np.intp], trusted: npt.NDArray[np.bool_]
) -> list[Finding]:
    """Stream checks for one vehicle's rows, given in arrival order."""
    findings: list[Finding] = []
    times = batch.time_ms[rows]
    # Compared, not subtracted: np.diff wraps around for times near +-2^63 and flips the sign.
    backwards = np.flatnonzero(times[1:] < times[:-1]) + 1
    findings.extend(
        Finding(
            int(rows[i]),
            Check.TIME_BACKWARDS,
            f"timestamp {times[i]} is {int(times[i - 1]) - int(times[i])} ms before the previous sample's: "
            "send samples in time order",
        )
        for i in backwards
    )
    sequence = batch.sequence_number[rows]
    _, first_seen = np.unique(sequence, return_index=True)
    repeated = np.setdiff1d(np.arange(len(rows)), first_seen)
    findings.extend(
        Finding(int(rows[i]), Check.DUPLICATE_SEQUENCE, f"sequence_number {sequence[i]} was already sent")
        for i in repeated
    )
    unique_sorted = np.unique(sequence)
    steps = np.diff(unique_sorted)
    for gap in np.flatnonzero(steps > 1):
        low, high = unique_sorted[gap] + 1, unique_sorted[gap + 1] - 1
        after = int(rows[np.flatnonzero(sequence == unique_sorted[gap + 1])[0]])
        count = high - low + 1
        span = f"{low}" if count == 1 else f"{low}-{high}"
        findings.append(
            Finding(after, Check.MISSING_SEQUENCE, f"sequence_number {span} missing ({count} samples)")
        )
    first_sent = np.zeros(len(rows), dtype=np.bool_)
    first_sent[first_seen] = True
    findings.extend(_jumps(batch, rows[first_sent & trusted]))
    return findings


def _jumps(batch: TelemetryBatch, rows: npt.NDArray[np.intp]) -> list[Finding]:
    """Consecutive fixes (in time order) farther apart than any vehicle could drive."""
    by_time = rows[np.argsort(batch.time_ms[rows], kind="stable")]
    if len(by_time) < 2:
        return []
    lon, lat = batch.longitude[by_time], batch.latitude[by_time]
    distance = haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    seconds = np.diff(batch.time_ms[by_time]) / 1000.0
    # Both fixes may be off by a few sigma of their reported accuracy, plus 10 m of slack.
    tolerance = 3.0 * (batch.accuracy[by_time][:-1] + batch.accuracy[by_time][1:]) + 10.0
    implausible = np.flatnonzero(distance > MAX_PLAUSIBLE_SPEED_MPS * seconds + tolerance)
    return [
        Finding(
            int(by_time[i + 1]),
            Check.IMPLAUSIBLE_JUMP,
            f"moved {distance[i]:.0f} m in {seconds[i]:.1f} s "
            f"(over {MAX_PLAUSIBLE_SPEED_MPS * 3.6:.0f} km/h): check the fix or its timestamp",
        )
        for i in implausible
    ]
