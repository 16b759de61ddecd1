"""A fleet simulator that writes telemetry the way vehicles upload it, with a ground truth.

The monitor is tested against data whose violations are known exactly. Real fleets cannot
provide that (nobody knows every incident a real fleet had), so this package drives simulated
vehicles through a loaded zone and writes:

* one Avro object container file per vehicle per time slice, as vehicles upload them,
  ``telemetry/<zone_id>/<slice start, 20261123T010000Z>/<vehicle_id>.avro``;
* ``ground_truth.jsonl``, one line per violation or reported event the data contains;
* ``manifest.json``: the options, seed, zone and schema versions, what was written, what was
  injected per rule kind and what could not be injected and why.

Baseline vehicles keep every rule: they drive inside the boundary and away from every area
whose rules they could break, below the lowest speed limit that applies to their class, and
they neither stop too long nor fall silent. Chosen vehicles then get one violation per
injected rule kind, built from the zone's own parameters (limit, grace, max gap, areas).

The ground truth is not what the simulator *meant* to do but what the written samples
contain: every track is checked by an evaluator that applies the zone's rules (with the
precedence of ``zones.rules``) to the reported values. A baseline track with a finding, or
an injection that did not come out as a clear violation (for example a run that lasts
almost exactly its grace period, where two honest engines may disagree), is generated again
from the vehicle's own random stream. A ground truth made this way cannot claim a violation
that is not in the data, nor miss one that is.

Everything is deterministic for a seed: each vehicle draws from its own generator seeded by
(seed, zone, vehicle index) and each file's sync marker is derived from the same, so the
output is byte-identical whatever the number of worker processes. Vehicles are generated,
checked and written one at a time, so memory does not grow with the fleet.

The package is pure Python, numpy, shapely and fastavro: no Apache Beam. Its modules, in
the order a run uses them: ``options`` (what to simulate), ``profiles`` (how each vehicle
class moves), ``zone_model`` (the zone as the simulator sees it: frames, time grid, what each
class may do), ``opportunities`` and ``planning`` (which vehicle gets which injection),
``injection`` (one vehicle's plan), ``routing`` and ``motion`` (where and how fast it drives),
``driving`` (its true motion and what its sensors report), ``oracle`` (the ground truth, one
module per rule kind), ``defects`` and ``writer`` (contract defects, records and files),
``vehicle`` (generate, check, write one vehicle), ``manifest`` and ``fleet`` (a whole run,
with worker processes).
"""

from __future__ import annotations

from pilotzone.pipelines.simulator.fleet import simulate
from pilotzone.pipelines.simulator.options import (
    DEFAULT_INJECT_RATES,
    DEFAULT_LOCAL_START,
    DEFECT_KINDS,
    Progress,
    SimulationError,
    SimulationOptions,
    available_codecs,
    default_start,
    parse_inject,
)
from pilotzone.pipelines.simulator.writer import GROUND_TRUTH_FILE, MANIFEST_FILE, SLICE_FORMAT, TELEMETRY_DIR

__all__ = [
    "DEFAULT_INJECT_RATES",
    "DEFAULT_LOCAL_START",
    "DEFECT_KINDS",
    "GROUND_TRUTH_FILE",
    "MANIFEST_FILE",
    "SLICE_FORMAT",
    "TELEMETRY_DIR",
    "Progress",
    "SimulationError",
    "SimulationOptions",
    "available_codecs",
    "default_start",
    "parse_inject",
    "simulate",
]
