"""Emergency fences: a no-go area drawn while vehicles drive, with a deadline to leave it.

A fire, a flood or a crowd: the regulator publishes a fence (``zones.fences.model``), a
polygon with the vehicle classes it affects, when it takes effect and, optionally, when it
ends. Vehicles inside when it takes effect must be out within ``exit_within_s``; a vehicle
still inside afterwards, or one entering after it took effect, is an incident of kind
``emergency_fence`` (``zones.fences.tracker``). Fences are read from a folder of small
documents (``zones.fences.loader``), each identified by a digest of its content, which
incidents carry as their ``config_version``; a new document for a known id is a version that
supersedes the earlier one from its ``effective_from`` (``zones.fences.versions``).
"""

from pilotzone.zones.fences.loader import load_fences
from pilotzone.zones.fences.model import FENCE_KIND, Fence, FenceDocument
from pilotzone.zones.fences.tracker import VehicleFences

__all__ = ["FENCE_KIND", "Fence", "FenceDocument", "VehicleFences", "load_fences"]
