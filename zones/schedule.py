"""Weekly schedules as people write them and as arrays: in a window, minutes of the week, phrases.

Rule applicability (``zones.rules``), the operating_hours kind and the evaluator all read
schedules; they share these helpers so a window means the same minute everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pilotzone.zones.terms import WEEKDAYS, TimeWindow, Weekday

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


def schedule_contains(windows: Sequence[TimeWindow] | None, local_time: dt.datetime) -> bool:
    """Whether a wall-clock time in the zone's timezone is in any of the windows.

    ``None`` (no schedule) means always; an empty list means never.
    """
    if windows is None:
        return True
    return any(window.contains(local_time) for window in windows)


def week_minutes(windows: Sequence[TimeWindow] | None) -> npt.NDArray[np.bool_]:
    """The minutes of a week (Monday 00:00 first) a schedule covers, as 10,080 booleans."""
    covered = np.zeros(MINUTES_PER_WEEK, dtype=bool)
    if windows is None:
        covered[:] = True
        return covered
    for window in windows:
        start = window.start.hour * 60 + window.start.minute
        end = window.end.hour * 60 + window.end.minute
        if start == end:
            start, end = 0, MINUTES_PER_DAY
        elif end < start:
            end += MINUTES_PER_DAY
        for day in window.days:
            offset = WEEKDAYS.index(day) * MINUTES_PER_DAY
            covered[np.arange(offset + start, offset + end) % MINUTES_PER_WEEK] = True
    return covered


def describe_window(window: TimeWindow) -> str:
    """``mon-fri 23:00-05:00``; ``daily`` for every day, ``24:00`` for the end of the day."""
    end = "24:00" if window.ends_at_midnight else f"{window.end:%H:%M}"
    return f"{_describe_days(window.days)} {window.start:%H:%M}-{end}"


def _describe_days(days: Sequence[Weekday]) -> str:
    indices = sorted({WEEKDAYS.index(day) for day in days})
    if len(indices) == 7:
        return "daily"
    if len(indices) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{WEEKDAYS[indices[0]]}-{WEEKDAYS[indices[-1]]}"
    return ",".join(str(WEEKDAYS[i]) for i in indices)
