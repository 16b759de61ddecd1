"""Rule evaluation on time-ordered telemetry batches: samples in, incidents and window summaries out.

The Beam pipeline hands each vehicle's samples to one ``VehicleEvaluator`` in time-ordered
chunks; everything here works on numpy columns, and Python loops run over runs, area sets,
rules, gaps, events and windows, never over samples. The evaluator is the regulator's
arithmetic, so it is deterministic in a strong sense: **the records and the merged window
summaries do not depend on how the samples are cut into chunks** (nor on ``advance`` calls
between chunks). Every lifecycle record is emitted at a point the data defines, and every
quantity is accumulated in integer milliseconds and millimetres.

Which version judges
    A list of zones may be a config history (``zones.history``): dated versions of a zone.
    Each sample is placed and judged among the versions in force at its event time; a
    vehicle's evaluator per stretch of unchanged versions, and what happens to its open
    incidents at a change, are in ``zones.evaluate.epochs``. Undated zones are one stretch.

Where a sample is
    ``assign_zones`` puts each sample in the first zone (in list order) whose boundary it is
    in (edges count as inside) and lists its areas. The evaluator then gives each sample the
    *vehicle's zone*: its own zone if it has one, else the zone of the vehicle's last sample
    inside a boundary (so leaving a boundary is judged against the zone that was left), else,
    for a vehicle never seen inside any boundary, the first zone whose permits list its
    operator. Samples with none of these are *unplaced*: returned in
    ``EvaluationOutput.unplaced`` for the pipeline to dead-letter, and not evaluated. A vehicle
    outside every boundary stays under its vehicle zone's rules (zone-wide ones, and area ones
    where an area sticks out of the boundary) until it enters another zone: its permit and
    reporting duties do not lapse by leaving.

Which rule applies
    Local time is the zone's timezone; the UTC offset comes from ``zoneinfo`` once per hour of
    event time. Samples are grouped by (vehicle zone, area set, vehicle class, which rule
    schedules cover the minute, inside the boundary); each group asks ``zones.rules`` once
    (``winning_rule`` for overriding kinds, ``independent_rules`` for restricted_area,
    leave_boundary and permit), so precedence and the one-line explanations are exactly those
    of ``pilotzone zones explain``. Schedules are read to the minute.

Runs: how a condition becomes an incident (all kinds except telemetry_gap, vehicle_event
and restricted-area crossings)
    Per rule, a sample *violates* when that rule is in force there and its condition holds.
    Violating samples form a *run*; the run survives non-violating fixes for less than
    ``HOLD_S`` (3 s): it ends when the condition has been false for ``HOLD_S`` (measured from the
    first non-violating fix), or at a telemetry gap (below). So one noisy fix neither splits an
    incident nor ends it. A run becomes an incident at its first violating fix at least
    ``grace_s`` after the run's start (dwell: more than ``max_dwell_s``); a shorter run leaves
    no trace. The incident starts at the run's first violating fix (``latitude``/``longitude``
    there, ``area`` = the rule's scoping area there) and ends (``end_ms``) at the first fix at
    which the condition no longer held, or at the last fix before a gap. Records: ``OPENED``
    when it becomes an incident, ``UPDATED`` for speed_limit and leave_boundary whenever the peak
    reaches 1.1 times the last reported peak, ``CLOSED`` when the end is known from later data.
    A run's end is known only from later fixes; ``advance`` never closes one and ``finish`` leaves
    it open (``end_ms`` None) with a last ``UPDATED`` record whose duration and peak reach its
    last violating fix, as its violation seconds in the window summaries do.

Telemetry gap
    Two consecutive fixes further apart than ``max_gap_s`` of the telemetry_gap rule in force at
    the earlier fix are a gap (strictly more). Without such a rule, ``DEFAULT_OBSERVATION_GAP_S``
    still separates observed stretches (no incident). A gap ends every run at the last fix
    before it, does not count as driving time or distance, and is no evidence of a path (no
    crossing is looked for across it). Its incident starts at the earlier fix and ends at the
    later one, with peak = the gap in seconds; the ``OPENED`` record (end and peak null) is
    the same whether ``advance`` saw the silence first or the later fix arrived first, and the
    ``CLOSED`` record follows with the later fix.

Conditions and peaks (peak units: km/h over the limit, metres outside, seconds otherwise;
each kind's module in ``zones.kinds`` holds its condition, peak unit, grace and phrases)
    * speed_limit: ``speed_kmh > limit_kmh + tolerance_kmh``; peak = max(speed - limit).
    * leave_boundary: outside the vehicle zone's boundary by more than the sample's horizontal
      accuracy (a fix within its accuracy of the edge does not count: GPS-noise hysteresis);
      distance in a local metric projection; peak = max metres outside.
    * restricted_area: inside one of the rule's areas; peak = seconds. Also a *crossing*: two
      consecutive fixes (no gap between) both outside every area of the rule whose straight
      segment enters one (for a rule with ``grace_s`` > 0, only when the straight-line estimate
      of the time inside reaches ``grace_s``) is an incident from the earlier fix to the later,
      located at the entry point, peak = the estimated seconds inside, opened and closed at
      once. Crossings add no violation seconds (the time inside is an estimate).
    * operating_hours: the local minute is outside every ``permitted`` window of the rule.
    * driving_mode: the sample's mode is not in ``allowed_modes``.
    * dwell: stopped, with hysteresis: a stop starts below ``stopped_below_kmh`` and lasts
      until speed reaches ``stopped_below_kmh + DWELL_RESUME_MARGIN_KMH``; peak = seconds.
    * permit: the operator holds no permit for the zone, or not for the vehicle's class; one
      incident per stretch of continuous observation with this vehicle zone (opened at the
      first sample, grace 0; a gap, or ``HOLD_S`` in another zone, ends it); peak = seconds.
    * vehicle_event: each reported event with a winning rule for its kind (and initiator; an
      event without initiator matches every rule, as in ``zones.rules``) is an incident opened
      and closed at the sample, ``report_deadline`` = start + ``report_within_h``, peak null.
      Several events of one kind in one sample are one incident.

Window summaries
    Additive partials per (zone, config version, operator, vehicle class, window); the version
    is the one that judged the samples (``epochs``: a window cut by a version change has a
    partial per version, and their figures add up). Samples, distance (by the
    earlier fix's mode) and observed seconds (intervals that are not gaps) go to the window of
    the later fix; ``violation_s_by_rule`` counts the time of runs that became incidents, from
    start to end, clipped to windows (for an open incident, up to its last violating fix);
    ``incidents_opened`` counts by start time. A window is emitted once nothing that can still
    arrive can change it (after ``finish`` everything is emitted); should anything reach an
    emitted window, it comes out as a further partial, and partials are meant to be summed.

Duplicates
    A sample whose sequence number the vehicle already sent within ``DUPLICATE_HORIZON_S`` of
    event time is a duplicate: returned in ``EvaluationOutput.duplicates`` and ignored.

The package's modules, one job each: ``zoning`` (where each sample is), ``tables`` (what is
looked up per zone and per group of samples), ``chunk`` (one chunk's columns, groups, window
partials), ``runs`` (conditions to incidents), ``gaps``, ``crossings`` and ``events`` (the
incidents that are not runs), ``records`` and ``summaries`` (what comes out), ``writer``
(making records), ``evaluator`` (the per-vehicle state that ties them together), ``bucket``
(a replay's many complete series at once, with the same results as fresh evaluators, helped by
``bucket_rules`` and ``bucket_windows``). What each rule kind means lives in ``zones.kinds``.
"""

from __future__ import annotations

from pilotzone.zones.evaluate.epochs import HistoryEvaluator, vehicle_evaluator
from pilotzone.zones.evaluate.evaluator import DUPLICATE_HORIZON_S, VehicleEvaluator
from pilotzone.zones.evaluate.records import (
    STATUSES,
    EvaluationOutput,
    IncidentRecord,
    incident_id,
    rfc3339_ms,
)
from pilotzone.zones.evaluate.runs import HOLD_S, UPDATE_RATIO
from pilotzone.zones.evaluate.summaries import WindowSummary
from pilotzone.zones.evaluate.tables import DEFAULT_OBSERVATION_GAP_S
from pilotzone.zones.evaluate.zoning import ZonedBatch, assign_zones
from pilotzone.zones.kinds.dwell import DWELL_RESUME_MARGIN_KMH

__all__ = [
    "DEFAULT_OBSERVATION_GAP_S",
    "DUPLICATE_HORIZON_S",
    "DWELL_RESUME_MARGIN_KMH",
    "HOLD_S",
    "STATUSES",
    "UPDATE_RATIO",
    "EvaluationOutput",
    "HistoryEvaluator",
    "IncidentRecord",
    "VehicleEvaluator",
    "WindowSummary",
    "ZonedBatch",
    "assign_zones",
    "incident_id",
    "rfc3339_ms",
    "vehicle_evaluator",
]
