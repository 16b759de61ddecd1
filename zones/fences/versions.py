"""Versions of one fence: a republished fence supersedes the earlier one from its effective_from.

A fence changes while it is in force: the fire spreads and the polygon grows, the order is
lifted early. The regulator publishes a new document with the **same id** and a **later
``effective_from``** (a *version*); what is in force at an event time is then decided by the
documents alone, never by the order they were published or received in, so a replay given
the same documents gives the stream's incidents:

* Versions of one id are ordered by ``effective_from``. Each is in force from its own
  ``effective_from`` until its ``until`` or the next version's ``effective_from``, whichever
  comes first. An incident open under a version when the next one takes over is CLOSED at
  that moment (as at a fence's end); the next version then judges from its start with its own
  ``exit_within_s``, like any fence taking effect, so a vehicle inside the amended area gets
  the amended deadline, and incidents of the two versions carry their own digests.
* The same document again (same digest) is one version: republishing is idempotent.
* Two different documents of one id with the same ``effective_from`` cannot both be in force:
  they are refused (``fences check``, ``run``), and a stream keeps the one it received first
  and logs and counts the other (``fences_refused``).
* Lifting a fence early is a version with ``until`` just after its ``effective_from`` (a
  fence in force for no time at all is refused as a typo).
"""

from __future__ import annotations

from collections.abc import Sequence

from pilotzone.zones.evaluate.records import rfc3339_ms
from pilotzone.zones.fences.model import Fence


def version_conflict(fence: Fence, known: Sequence[Fence]) -> Fence | None:
    """A known version that ``fence`` cannot stand beside (same id and ``effective_from``,
    different content), or None."""
    for other in known:
        if (
            other.fence_id == fence.fence_id
            and other.start_ms == fence.start_ms
            and other.digest != fence.digest
        ):
            return other
    return None


def conflict_message(fence: Fence, other: Fence) -> str:
    """What to fix when two versions of a fence start at one moment."""
    return (
        f"fence {fence.fence_id!r} ({fence.digest}) and {other.digest} from {other.source} both take effect "
        f"at {rfc3339_ms(fence.start_ms)}: an amendment needs a later effective_from than the version it "
        "replaces (or republish the same document)"
    )


def in_force_versions(fences: Sequence[Fence]) -> list[Fence]:
    """The fences (distinct digests, no conflicts), each cut at its successor's start.

    The order is kept; a version whose successor is unchanged is returned as is.
    """
    starts: dict[str, list[int]] = {}
    for fence in fences:
        starts.setdefault(fence.fence_id, []).append(fence.start_ms)
    result = []
    for fence in fences:
        later = [start for start in starts[fence.fence_id] if start > fence.start_ms]
        result.append(fence.superseded_at(min(later) if later else None))
    return result


def distinct_versions(fences: Sequence[Fence]) -> list[Fence]:
    """The fences with each digest once (the first), in order."""
    seen: set[str] = set()
    kept = []
    for fence in fences:
        if fence.digest not in seen:
            seen.add(fence.digest)
            kept.append(fence)
    return kept


__all__ = ["conflict_message", "distinct_versions", "in_force_versions", "version_conflict"]
