"""The rules in force, as a document a regulator reads: one entry per rule, in plain words.

Each entry says what the rule forbids (its kind's own phrase for its parameters, the same
phrase ``pilotzone zones check`` prints), where (zone-wide or in which areas), for which
vehicle classes, when (its schedule in the zone's local time), how severe an incident is,
whether and how fast it must be reported, and its precedence. The zone's config version heads
the section: it is the content hash every incident and window summary of the run carries. Over
a config history every version in force during the period is listed, with its dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pilotzone.pipelines.reports.versions import validity
from pilotzone.zones import Zone
from pilotzone.zones.history import is_dated
from pilotzone.zones.kinds import RULE_KINDS
from pilotzone.zones.model import Rule, TimeWindow
from pilotzone.zones.rules import rule_parameters

KIND_TITLES = {
    "speed_limit": "Speed limit",
    "leave_boundary": "Stay inside the zone",
    "restricted_area": "No entry",
    "operating_hours": "Operating hours",
    "telemetry_gap": "Continuous telemetry",
    "driving_mode": "Driving mode",
    "dwell": "Stopping time",
    "permit": "Permitted operators and classes",
    "vehicle_event": "Reportable vehicle event",
}


def _window(window: TimeWindow) -> str:
    days = "every day" if len(window.days) == 7 else ", ".join(str(day) for day in window.days)
    end = "24:00" if window.ends_at_midnight else window.end.strftime("%H:%M")
    return f"{days} {window.start.strftime('%H:%M')}–{end}"


def report_within_h(rule: Rule) -> float | None:
    """The rule's reporting deadline in hours after an incident starts, if it has one."""
    value = getattr(rule, "report_within_h", None)
    return None if value is None else float(value)


def rule_entry(zone: Zone, rule: Rule) -> str:
    """One rule as a ``<div class="rule">``."""
    areas = rule.applies.areas
    where = (
        "zone-wide"
        if not areas
        else "in " + ", ".join(f"{a} ({zone.areas[a].name})" if a in zone.areas else a for a in areas)
    )
    classes = (
        ", ".join(rule.applies.vehicle_classes) if rule.applies.vehicle_classes else "every vehicle class"
    )
    schedule = (
        "always"
        if rule.applies.schedule is None
        else "; ".join(_window(w) for w in rule.applies.schedule) + f" ({zone.config.timezone})"
    )
    deadline = report_within_h(rule)
    reporting = "no report required" if deadline is None else f"report to the authority within {deadline:g} h"
    priority = "by area (innermost wins)" if rule.priority is None else f"priority {rule.priority}"
    description = f"<p>{escape(rule.description)}</p>" if rule.description else ""
    title = KIND_TITLES.get(rule.kind, rule.kind)
    return (
        f'<div class="rule" data-rule="{escape(rule.id)}"><h4>{escape(title)}: <code>{escape(rule.id)}</code> '
        f'<span class="sev sev-{escape(str(rule.severity))}">{escape(str(rule.severity))}</span></h4>{description}'
        f"<dl><dt>Rule</dt><dd>{escape(rule_parameters(rule))}</dd>"
        f"<dt>Where</dt><dd>{escape(where)}</dd><dt>Who</dt><dd>{escape(classes)}</dd>"
        f"<dt>When</dt><dd>{escape(schedule)}</dd><dt>Reporting</dt><dd>{escape(reporting)}</dd>"
        f"<dt>Precedence</dt><dd>{escape(priority)}</dd></dl></div>"
    )


def rules_section(versions: Sequence[Zone], run_versions: list[str]) -> str:
    """The rules in force, operators and config versions, as HTML.

    ``versions`` are the zone's versions in force during the report's period, by start: one
    for a zone whose rules did not change, several over a config history, each then listed
    with its dates, its operators and its rules, as a regulator must see what bound the
    vehicles at each moment.
    """
    zone = versions[-1]
    cfg = zone.config
    recorded = (
        ", ".join(f"<code>{escape(v)}</code>" for v in run_versions)
        if run_versions
        else "not recorded by the run (no incident and no metrics file)"
    )
    intro = (
        '<section id="rules"><h2>Rules in force</h2>'
        f"<p>Zone <strong>{escape(cfg.name)}</strong> (<code>{escape(zone.zone_id)}</code>), issued by "
        f"{escape(cfg.authority or 'the zone authority')}. "
    )
    if len(versions) == 1:
        dated = "" if not is_dated(zone) else f", in force {escape(validity(zone))}"
        return (
            f"{intro}Config version <code>{escape(zone.version)}</code> (file {escape(zone.source.name)}{dated}); "
            f"versions the run recorded: {recorded}. Times are read in {escape(cfg.timezone)}. "
            f"Zone-wide cap: {cfg.max_vehicles or 'none'} vehicles.</p>{_version_rules(zone)}</section>"
        )
    listed = ", ".join(f"<code>{escape(v.version)}</code> ({escape(validity(v))})" for v in versions)
    parts = [
        f"{intro}The rules changed during the period: {len(versions)} config versions were in force, "
        f"each judging the samples of its time: {listed}. Versions the run recorded: {recorded}.</p>"
    ]
    for version in versions:
        vcfg = version.config
        parts.append(
            f'<div class="version" data-version="{escape(version.version)}"><h3>Version '
            f"<code>{escape(version.version)}</code>, in force {escape(validity(version))}</h3>"
            f"<p>File {escape(version.source.name)}. Times are read in {escape(vcfg.timezone)}. "
            f"Zone-wide cap: {vcfg.max_vehicles or 'none'} vehicles.</p>{_version_rules(version)}</div>"
        )
    return "".join(parts) + "</section>"


def _version_rules(zone: Zone) -> str:
    """One version's operators table and rule entries."""
    operators = "".join(
        f'<tr><td><code>{escape(op.id)}</code></td><td class="text">{escape(op.name)}</td>'
        f'<td class="text">{escape(", ".join(op.vehicle_classes))}</td><td>{op.max_vehicles or "no cap"}</td></tr>'
        for op in zone.config.operators
    )
    rules = "".join(rule_entry(zone, rule) for kind in RULE_KINDS for rule in zone.rules_of_kind(kind))
    return (
        '<table class="operators"><thead><tr><th>Operator</th><th>Name</th><th>Permitted classes</th>'
        f"<th>Max vehicles</th></tr></thead><tbody>{operators}</tbody></table>"
        f"{rules}"
    )
