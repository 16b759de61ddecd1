"""Which timezone names a zone config may use: the IANA tz database's, and nothing host-specific.

A rule schedule ("07:00-09:00 on school days") is read in the zone's timezone, and the
config version promises that the same version means the same rules. ``zoneinfo`` also
accepts names that mean something different on every machine: ``localtime`` (the host's
clock, which follows ``/etc/localtime``), ``posixrules``, absolute file paths, and on some
systems the ``posix/`` and ``right/`` (leap-second) copies. So a name must be one of the
zones listed by the ``tzdata`` package (the IANA database, a dependency), which is the same
list on every machine.
"""

from __future__ import annotations

import difflib
import importlib.resources
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@cache
def iana_timezones() -> frozenset[str]:
    """The zone names of the IANA tz database, as shipped by the ``tzdata`` package."""
    listing = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(name for name in listing.split() if name)


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not usable as a zone's timezone, or None if it is an IANA zone name."""
    if name in iana_timezones():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return f"timezone {name!r} is in the IANA database but cannot be loaded here: update the tzdata package"
        return None
    close = difflib.get_close_matches(name, sorted(iana_timezones()), n=1, cutoff=0.8)
    hint = f"did you mean {close[0]!r}?" if close else "use a name such as 'Asia/Seoul'"
    return (
        f"unknown IANA timezone {name!r}: {hint} (names of the IANA tz database "
        "only: host-specific names such as 'localtime', file paths and offsets such as 'UTC+9' would make "
        "schedules follow the machine, not the config)"
    )


__all__ = ["iana_timezones", "timezone_problem"]
