"""Window summaries as JSON, and the short compliance summary printed after a replay.

The printed summary is computed from the files the replay wrote (incident log and window
summaries), not from in-memory state, so what an operator reads on the terminal is exactly
what the files say.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pilotzone.pipelines.reports.figures import GroupFigures, group_figures, zone_total
from pilotzone.pipelines.reports.versions import zone_config_versions
from pilotzone.zones.evaluate import WindowSummary, rfc3339_ms


def summary_to_json(summary: WindowSummary, window_s: int = 60) -> dict[str, Any]:
    """One window summary as a JSON object (the summaries file's line format)."""
    return {
        "window_start": rfc3339_ms(summary.window_start_ms),
        "window_end": rfc3339_ms(summary.window_start_ms + window_s * 1000),
        "pilot_zone": summary.pilot_zone,
        "config_version": summary.config_version,
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


def _driven(figures: GroupFigures) -> str:
    ratio = figures.compliance_ratio
    return (
        f"{figures.samples} samples, {figures.km():.1f} km driven ({figures.km('AUTONOMOUS'):.1f} km autonomous), "
        f"compliance ratio {1.0 if ratio is None else ratio:.4f}"
    )


def compliance_summary(
    incidents: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
    dead_letters: list[dict[str, Any]],
    counters: Mapping[str, int],
) -> str:
    """A few lines per zone: what was driven, how compliant (in all and per operator and vehicle
    class, the figures ``pilotzone report`` tabulates), and which incidents."""
    lines = [
        f"records read {counters.get('records_read', 0)}, decoded {counters.get('records_decoded', 0)}, "
        f"dead-lettered {counters.get('records_dead_lettered', 0)}"
    ]
    by_zone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for incident in incidents:
        by_zone[incident["pilot_zone"]].append(incident)
    rows_by_zone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in summaries:
        rows_by_zone[row["pilot_zone"]].append(row)
    for zone_id in sorted(set(rows_by_zone) | set(by_zone)):
        zone_incidents = by_zone.get(zone_id, [])
        # Every version that judged the zone's samples (several over a config history); a
        # fence incident names its fence, not a zone version.
        versions = sorted(
            {row["config_version"] for row in rows_by_zone.get(zone_id, []) if "config_version" in row}
            | zone_config_versions(zone_incidents)
        )
        head = f"zone {zone_id}" + (f" (config {', '.join(versions)})" if versions else "")
        lines.append(head)
        if zone_id in rows_by_zone:
            groups = group_figures(rows_by_zone[zone_id])
            zone = zone_total(groups, rows_by_zone[zone_id])
            lines.append(f"  {_driven(zone)}")
            lines.append(
                f"  disengagements {zone.disengagements} "
                f"({zone.per_1000_autonomous_km(zone.disengagements) or 0.0:.1f} per 1,000 autonomous km), "
                f"remote takeovers {zone.remote_takeovers}"
            )
            lines.append("  per operator and vehicle class:")
            lines.extend(
                f"    {group.operator} {group.vehicle_class}: {_driven(group)}, incidents {group.incident_count}, "
                f"disengagements {group.disengagements}, remote takeovers {group.remote_takeovers}"
                for group in groups
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
