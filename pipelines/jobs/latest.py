"""Which of several rows for one thing is the latest, in the files a stream writes.

A stream writes every lifecycle state of an incident and every running total of a window
summary as it goes, and rows of one key can reach a reader (the metrics collector, a report,
the live benchmark, files of several workers) out of order. The latest is therefore the row
that has got furthest, never the last one read: an incident's furthest lifecycle state
(CLOSED over UPDATED over OPENED) and a summary's largest running totals (every figure of a
running total only grows). No Beam here, so reports read stream folders without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pilotzone.zones.evaluate.records import STATUSES


def summary_key(row: dict[str, Any]) -> tuple[str, ...]:
    """What one summary row is about: its window, pilot zone, config version, operator and
    vehicle class (a window that straddles a version change has a row per version)."""
    return (
        row["window_start"],
        row["pilot_zone"],
        summary_version(row),
        row["operator"],
        row["vehicle_class"],
    )


def summary_version(row: dict[str, Any]) -> str:
    """The config version a summary row names; "" in run folders written before summaries
    named one (they hold one version per zone, so nothing of theirs is merged wrongly)."""
    return str(row.get("config_version", ""))


def summary_progress(row: dict[str, Any]) -> tuple[float, ...]:
    """How far a summary's running total has got (module docstring)."""
    return (
        row["samples"],
        row["vehicle_seconds"],
        row["active_vehicles"],
        sum(row["distance_m_by_mode"].values()),
        sum(row["violation_s_by_rule"].values()),
        sum(row["incidents_opened"].values()),
        row["disengagements"],
        row["remote_takeovers"],
    )


def incident_progress(row: dict[str, Any]) -> int:
    """How far an incident row's lifecycle has got (OPENED 0, UPDATED 1, CLOSED 2)."""
    return STATUSES.index(row["status"])


def latest_incidents(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per incident id, in its furthest lifecycle state, by start time."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        known = latest.get(row["incident_id"])
        if known is None or incident_progress(row) >= incident_progress(known):
            latest[row["incident_id"]] = row
    return sorted(latest.values(), key=lambda row: (row["start_time"], row["incident_id"]))


def latest_summaries(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per window, zone, version, operator and class: the one that has got furthest, by key."""
    latest: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        key = summary_key(row)
        known = latest.get(key)
        if known is None or summary_progress(row) >= summary_progress(known):
            latest[key] = row
    return [latest[key] for key in sorted(latest)]
