"""A bulk fleet writer for benchmarks: an hour of thousands of vehicles in minutes, not hours.

Why it exists: the simulator (``pilotzone.pipelines.simulator``) drives each vehicle through
the zone's geometry with realistic motion and then checks every track against its own
independent evaluator (the oracle) to write an exact ground truth, regenerating any track
whose violations are not clear-cut. That is what tests of the monitor's *correctness* need,
and it is far too slow for the 10,000-vehicle, one-hour replay benchmark (36M records): most
of a run goes to the oracle and to fastavro writing a dict per record.

How it differs:

* no oracle and no ground-truth file: injections are *placed* so that each gives exactly one
  incident (``site`` and ``tracks`` say how), and ``fleet.json`` counts them per rule kind;
  the tests replay a small fleet and find exactly those counts;
* a narrower repertoire: speeding, dwell (zone-wide and in pick-up bays), restricted-area
  entries and reported disengagements, at the simulator's default rates; no boundary,
  operating-hour, gap, driving-mode or permit violations and no contract defects;
* records are encoded with numpy (``encoding``), not fastavro, straight into the layout
  ``pilotzone compact`` makes of uploads: large contract-schema container files, one deflate
  block per vehicle per minute, time slice first, then vehicle id;
* deterministic for a seed, whatever the chunking and the worker processes (each vehicle
  draws from its own generator), but not the simulator's records for that seed.

Known limit: a route leg is checked at its end and against the kept-out areas, not against the
boundary along its length, so on a large fleet a few legs cross a concave stretch of the
boundary (10,000 vehicles for an hour: 9 boundary incidents and 1 restricted-area entry more
than injected). Small fleets come out exact (tested).

The simulator and its outputs are untouched by this package.
"""

from __future__ import annotations

from pilotzone.pipelines.simulator.bulk.fleet import (
    FLEET_FILE,
    BulkFleet,
    BulkFleetOptions,
    read_fleet,
    vehicle_id,
    write_bulk_fleet,
)
from pilotzone.pipelines.simulator.bulk.tracks import INJECTED_KINDS

__all__ = [
    "FLEET_FILE",
    "INJECTED_KINDS",
    "BulkFleet",
    "BulkFleetOptions",
    "read_fleet",
    "vehicle_id",
    "write_bulk_fleet",
]
