"""Window summaries as JSON, and the short compliance summary printed after a replay.

The printed summary is computed from the files the replay wrote (incident log and window
summaries), not from in-memory state, so what an operator reads on the terminal is exactly
what the files say.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pilotzone.zones.evaluate import WindowSummary, rfc3339_ms


def summary_to_json(summary: WindowSummary, window_s: int = 60) -> dict[str, Any]:
    """One window summary as a JSON object (the summaries file's line format)."""
    return {
        "window_start": rfc3339_ms(summary.window_start_ms),
        "window_end": rfc3339_ms(summary.window_start_ms + window_s * 1000),
        "pilot_zone": summary.pilot_zone,
        "operator": summary.operator_id,
        "vehicle_class": summary.vehicle_class,
        "samples": summary.samples,
        "active_vehicles": len(summary.vehicle_ids),
        "vehicle_seconds": round(summary.vehicle_seconds, 3),
        "distance_m_by_mode": {k: round(v, 3) for k, v in sorted(summary.distance_m_by_mode.items())},
        "violation_s_by_rule": {k: round(v, 3) for k, v in sorted(summary.violation_s_by_rule.items())},
        # A count nets to zero when ConfirmGaps took back a gap opened by the end of input.
        "incidents_opened": {
            f"{kind}/{severity}": count
            for (kind, severity), count in sorted(summary.incidents_opened.items())
            if count
        },
        "disengagements": summary.disengagements,
        "remote_takeovers": summary.remote_takeovers,
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All rows of a JSON Lines file (empty if the file does not exist)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _zone_totals(summaries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "samples": 0,
            "vehicle_seconds": 0.0,
            "violation_s": 0.0,
            "distance": Counter(),
            "dis": 0,
            "rto": 0,
        }
    )
    for row in summaries:
        zone = totals[row["pilot_zone"]]
        zone["samples"] += row["samples"]
        zone["vehicle_seconds"] += row["vehicle_seconds"]
        zone["violation_s"] += sum(row["violation_s_by_rule"].values())
        zone["distance"].update(row["distance_m_by_mode"])
        zone["dis"] += row["disengagements"]
        zone["rto"] += row["remote_takeovers"]
    return dict(totals)


def compliance_summary(
    incidents: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
    dead_letters: list[dict[str, Any]],
    counters: Mapping[str, int],
) -> str:
    """A few lines per zone: what was driven, how compliant, and which incidents."""
    lines = [
        f"records read {counters.get('records_read', 0)}, decoded {counters.get('records_decoded', 0)}, "
        f"dead-lettered {counters.get('records_dead_lettered', 0)}"
    ]
    by_zone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for incident in incidents:
        by_zone[incident["pilot_zone"]].append(incident)
    totals = _zone_totals(summaries)
    versions = {i["pilot_zone"]: i["config_version"] for i in incidents}
    for zone_id in sorted(set(totals) | set(by_zone)):
        zone = totals.get(zone_id)
        zone_incidents = by_zone.get(zone_id, [])
        head = f"zone {zone_id}" + (f" (config {versions[zone_id]})" if zone_id in versions else "")
        lines.append(head)
        if zone is not None:
            km = sum(zone["distance"].values()) / 1000
            autonomous_km = zone["distance"].get("AUTONOMOUS", 0.0) / 1000
            ratio = 1 - zone["violation_s"] / zone["vehicle_seconds"] if zone["vehicle_seconds"] else 1.0
            per_1000 = zone["dis"] / autonomous_km * 1000 if autonomous_km else 0.0
            lines.append(
                f"  {zone['samples']} samples, {km:.1f} km driven ({autonomous_km:.1f} km autonomous), "
                f"compliance ratio {ratio:.4f}"
            )
            lines.append(
                f"  disengagements {zone['dis']} ({per_1000:.1f} per 1,000 autonomous km), "
                f"remote takeovers {zone['rto']}"
            )
        severities = Counter(i["severity"] for i in zone_incidents)
        kinds = Counter(i["kind"] for i in zone_incidents)
        open_count = sum(1 for i in zone_incidents if i["end_time"] is None)
        lines.append(
            f"  incidents {len(zone_incidents)} ({open_count} open at end): "
            + ", ".join(
                f"{s} {severities[s]}" for s in ("CRITICAL", "MAJOR", "MINOR", "INFO") if severities[s]
            )
        )
        if kinds:
            lines.append("    " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))
    if dead_letters:
        # A dead letter may stand for many records (a truncated block, a corrupt one): count
        # records, as the counters and ``pilotzone_dead_letters_total`` do, not lines.
        reasons: Counter[str] = Counter()
        for row in dead_letters:
            reasons[row["reason"]] += row["records"]
        lines.append(
            "dead letters: " + ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
        )
    return "\n".join(lines)
