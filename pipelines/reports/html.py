"""The report as one self-contained HTML document: inline CSS and SVG, no script, no link out.

A regulator can mail it, archive it or open it offline, and Chromium prints the same file to
PDF. Tables carry classes and ``data-`` attributes (``incident-row``, ``group-row``,
``suppressed``) so a reader's tools, and the tests, can find what a person sees.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from pilotzone.pipelines.metrics.export import parse_rfc3339_ms
from pilotzone.pipelines.reports import public
from pilotzone.pipelines.reports.content import ReportContent
from pilotzone.pipelines.reports.figures import DRIVING_MODES, SEVERITIES, GroupFigures
from pilotzone.pipelines.reports.filings import status_label
from pilotzone.pipelines.reports.grade import MIN_KM
from pilotzone.pipelines.reports.rulesdoc import report_within_h, rules_section
from pilotzone.pipelines.reports.svgcharts import Bar, bar_chart
from pilotzone.pipelines.reports.svgmap import GridSquare, Marker, zone_map
from pilotzone.pipelines.reports.versions import validity, versions_table

SUPPRESSED = '<td class="suppressed" title="fewer than k vehicles">suppressed</td>'

CSS = """
body{font-family:"Noto Sans","Noto Sans CJK KR","DejaVu Sans",sans-serif;font-size:10.5pt;color:#111;margin:24px;max-width:760px}
h1{font-size:17pt;margin:0 0 4px}h2{font-size:13pt;border-bottom:1px solid #999;margin-top:22px}
h4{margin:10px 0 2px;font-size:10.5pt}table{border-collapse:collapse;margin:6px 0;font-size:8.5pt}
th,td{border:1px solid #bbb;padding:2px 4px;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.text{text-align:left}td:first-child{white-space:nowrap}thead th{background:#eee}
table.incidents td{font-size:7.5pt}td.suppressed{background:#eee;color:#555;font-style:italic;text-align:center}
tr.total td{font-weight:bold}.grade{font-size:30pt;font-weight:bold;border:2px solid #111;padding:2px 14px;float:right}
.sev{font-size:8pt;padding:0 3px;border-radius:2px;color:#fff;background:#555}.sev-CRITICAL{background:#c0001a}
.sev-MAJOR{background:#e2540c}.sev-MINOR{background:#1f5fbf}dl{display:grid;grid-template-columns:90px 1fr;margin:2px 0}
dt{color:#555}dd{margin:0}.rule{break-inside:avoid;border-left:3px solid #ccc;padding-left:8px;margin:6px 0}
.note{color:#444;font-size:9pt}code{font-size:9pt}section{break-inside:auto}svg{display:block;max-width:100%;height:auto}
@page{size:A4;margin:14mm}@media print{body{margin:0}}
"""


def _local(content: ReportContent, time_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(time_ms / 1000, tz=content.zone.config.tz)
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")


def _short(content: ReportContent, time_ms: int, fmt: str = "%m-%d %H:%M:%S") -> str:
    """A local time for a narrow table cell; the section says which timezone."""
    return dt.datetime.fromtimestamp(time_ms / 1000, tz=content.zone.config.tz).strftime(fmt)


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _criterion_value(content: ReportContent, index: int, value: float | None) -> str:
    """A grade criterion's value; the public version withholds counts about fewer than k vehicles."""
    view = content.public
    if view is not None and view.total_hidden:
        return "suppressed"
    if view is not None and index == 1 and 0 < view.serious_vehicles < view.k:
        return "suppressed"
    if view is not None and index == 2 and content.total.disengagements + content.total.remote_takeovers:
        return "not published"
    return _num(value, 4 if index == 0 else 1)


def _versions_note(content: ReportContent) -> str:
    if len(content.versions) == 1:
        return f"Config version <code>{escape(content.zone.version)}</code>."
    listed = ", ".join(f"<code>{escape(v.version)}</code> ({escape(validity(v))})" for v in content.versions)
    return f"Config versions {listed}."


def _versions_hidden(content: ReportContent) -> bool:
    """The public version withholds the split when any version's rows are about fewer than k
    vehicles (one hidden row could be recovered from the total and the others)."""
    view = content.public
    if view is None:
        return False
    return view.total_hidden or any(v.figures.min_vehicles < view.k for v in content.by_version)


def _header(content: ReportContent) -> str:
    req, zone, total, view = content.request, content.zone, content.total, content.public
    version = "Public version" if req.public else "Internal version: names vehicles; not for publication"
    grade = content.grade
    # A zone whose fleet is smaller than k gets no published grade: it would describe those few vehicles.
    withheld = view is not None and view.total_hidden
    letter = "–" if withheld else grade.letter or "–"
    criteria = "".join(
        f"<tr><td>{escape(c.name)}</td><td>{_criterion_value(content, i, c.value)}</td>"
        f'<td class="text">{escape("suppressed" if withheld else c.letter or "not rated")}</td><td class="text">{escape(c.note or c.rule)}</td></tr>'
        for i, c in enumerate(grade.criteria)
    )
    if view is not None and view.total_hidden:
        figures = "The zone's totals are suppressed (fewer than k vehicles)."
    else:
        figures = (
            f"{total.samples:,} samples, {total.km():,.1f} km driven ({total.km('AUTONOMOUS'):,.1f} km autonomous), "
            f"compliance ratio {_num(total.compliance_ratio, 4)}."
        )
    if view is None or not view.incident_total_hidden:
        figures += f' <span id="incident-count">{len(content.incidents)}</span> incidents.'
    return (
        f'<header><div class="grade" id="zone-grade">{letter}</div>'
        f"<h1>{escape(zone.config.name)}: compliance report</h1>"
        f'<p class="note">{escape(version)}. Period {_local(content, content.period.start_ms)} to '
        f"{_local(content, content.period.end_ms)} (half-open). Run folder layout: {escape(content.run.layout)}. "
        f"Report statuses as of {_local(content, content.as_of_ms)}. {_versions_note(content)}</p><p>{figures}</p>"
        '<h2>Zone grade</h2><p>The grade is the worst of three banded criteria (see "How the grade is made"); '
        f"below {MIN_KM:g} km a rate is not rated.</p>"
        '<table class="grade-criteria"><thead><tr><th>Criterion</th><th>Value</th><th>Band</th><th>Bands</th></tr>'
        f"</thead><tbody>{criteria}</tbody></table></header>"
    )


def _group_cells(group: GroupFigures, modes: list[str], events: bool) -> str:
    cells = (
        f"<td>{group.samples:,}</td>"
        + "".join(f"<td>{group.km(mode):,.2f}</td>" for mode in modes)
        + f"<td>{group.km():,.2f}</td><td>{_num(group.compliance_ratio, 4)}</td>"
    )
    if events:
        dis = group.per_1000_autonomous_km(group.disengagements)
        rto = group.per_1000_autonomous_km(group.remote_takeovers)
        cells += (
            f"<td>{group.incident_count}</td><td>{group.disengagements}</td><td>{_num(dis)}</td>"
            f"<td>{group.remote_takeovers}</td><td>{_num(rto)}</td>"
        )
    return cells


def _groups_table(content: ReportContent) -> str:
    view = content.public
    events = view is None
    modes = [m for m in DRIVING_MODES if content.total.distance_m_by_mode.get(m)]
    heads = (
        "<th>Operator</th><th>Class</th><th>Samples</th>"
        + "".join(f"<th>km {escape(m.lower().replace('_', ' '))}</th>" for m in modes)
        + "<th>km total</th><th>Compliance ratio</th>"
    )
    if events:
        heads += (
            "<th>Incidents</th><th>Disengage&shy;ments</th><th>per 1,000 auton. km</th>"
            "<th>Remote takeovers</th><th>per 1,000 auton. km</th>"
        )
    width = 2 + len(modes) + (5 if events else 0)
    hidden, total_hidden = (set(), False) if view is None else (view.hidden_groups, view.total_hidden)
    rows = []
    for index, group in enumerate(content.groups):
        cells = SUPPRESSED * (width + 1) if index in hidden else _group_cells(group, modes, events)
        rows.append(
            f'<tr class="group-row" data-operator="{escape(group.operator)}" data-class="{escape(group.vehicle_class)}">'
            f"<td>{escape(group.operator)}</td><td>{escape(group.vehicle_class)}</td>{cells}</tr>"
        )
    total_cells = SUPPRESSED * (width + 1) if total_hidden else _group_cells(content.total, modes, events)
    rows.append(f'<tr class="total"><td>zone total</td><td></td>{total_cells}</tr>')
    note = ""
    if view is not None:
        note = (
            f'<p class="note">A row is about its operator\'s vehicles of that class (at least as many as were active in '
            f"one minute). Rows about fewer than k = {view.k} vehicles are suppressed, and further rows with them "
            "until the suppressed rows together cover at least k vehicles, so no suppressed row can be recovered "
            "from the total. Disengagement and remote takeover counts are not published: the summaries do not say "
            "how many vehicles they involve, so they cannot be shown to cover k vehicles; incidents are counted "
            "below by the vehicles they involve.</p>"
        )
    return (
        '<section id="groups"><h2>Per operator and vehicle class</h2>'
        f'<table class="groups"><thead><tr>{heads}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}</section>'
    )


def _kinds_by_group(content: ReportContent) -> str:
    keys = sorted({key for group in content.groups for key in group.incidents if group.incidents[key]})
    if not keys:
        return ""
    heads = "".join(f"<th>{escape(kind)}<br>{escape(sev)}</th>" for kind, sev in keys)
    rows = "".join(
        f'<tr><td>{escape(g.operator)}</td><td class="text">{escape(g.vehicle_class)}</td>'
        + "".join(f"<td>{g.incidents.get(key, 0)}</td>" for key in keys)
        + "</tr>"
        for g in content.groups
    )
    return (
        '<h3>Incidents by kind and severity</h3><table class="kinds-by-group"><thead><tr><th>Operator</th>'
        f"<th>Class</th>{heads}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _public_kinds(content: ReportContent) -> str:
    assert content.public is not None
    table = content.public.kinds

    def cell(key: tuple[str, str]) -> str:
        if key in table.hidden:
            return SUPPRESSED
        return f"<td>{table.cells[key].value:g}</td>"

    columns = (*SEVERITIES, public.TOTAL)
    rows = "".join(
        f'<tr class="{"total" if kind == public.TOTAL else "kind-row"}"><td>{escape(kind)}</td>'
        + "".join(cell((kind, sev)) for sev in columns)
        + "</tr>"
        for kind in (*table.kinds, public.TOTAL)
    )
    return (
        '<h3>Incidents by kind and severity</h3><table class="public-kinds"><thead><tr><th>Kind</th>'
        + "".join(f"<th>{escape(c)}</th>" for c in columns)
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        f'<p class="note">A cell is suppressed when its incidents involve fewer than k = {content.request.k} '
        "distinct vehicles; in every row and column with a published total, further cells are suppressed "
        "until the suppressed cells together involve at least k vehicles.</p>"
    )


def _public_obligations(content: ReportContent) -> str:
    assert content.public is not None
    cells, hidden = content.public.report_statuses, content.public.hidden_report_statuses
    rows = "".join(
        f'<tr class="{"total" if key == public.TOTAL else "status-row"}"><td>{escape(status_label(str(key)))}</td>'
        + (SUPPRESSED if key in hidden else f"<td>{cell.value:g}</td>")
        + "</tr>"
        for key, cell in cells.items()
    )
    return (
        '<h3>Reports owed to the authority</h3><table class="public-reports"><thead><tr><th>Status as of '
        f"{_local(content, content.as_of_ms)}</th><th>Incidents</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _filing_text(status: str, ob: Any) -> str:
    if ob.filing is None:
        return status_label(status)
    late = " (late)" if ob.filed_late else ""
    return f"filed{late}: {ob.filing.reference} by {ob.filing.filed_by}"


def _incidents_table(content: ReportContent) -> str:
    # An incident's rule is the one of the version that judged it.
    rules = {(zone.version, rule.id): rule for zone in content.versions for rule in zone.rules}
    rows = []
    for number, (incident, ob) in enumerate(
        zip(content.incidents, content.obligations, strict=True), start=1
    ):
        rule = rules.get((incident["config_version"], incident["rule_id"]))
        within = None if rule is None else report_within_h(rule)
        deadline = "–"
        if ob.deadline_ms is not None:
            deadline = _short(content, ob.deadline_ms, "%Y-%m-%d %H:%M") + (
                "" if within is None else f" ({within:g} h)"
            )
        end = (
            "open"
            if incident["end_time"] is None
            else _short(content, parse_rfc3339_ms(incident["end_time"]))
        )
        filing = _filing_text(ob.status, ob)
        if ob.filing is not None:
            filing += f", {_local(content, ob.filing.filed_at_ms)}"
        rows.append(
            f'<tr class="incident-row" data-incident="{number}" data-id="{escape(incident["incident_id"])}">'
            f'<td>{number}</td><td class="text"><code>{escape(incident["incident_id"])}</code></td>'
            f'<td class="text">{_short(content, parse_rfc3339_ms(incident["start_time"]))}</td><td class="text">{end}</td>'
            f'<td class="text">{escape(incident["kind"])}</td><td class="text">{escape(incident["rule_id"])}</td>'
            f'<td class="text">{escape(incident["severity"])}</td><td class="text">{escape(incident["area"] or "–")}</td>'
            f'<td class="text">{escape(incident["vehicle_id"])}</td><td class="text">{escape(incident["operator_id"])}</td>'
            f'<td class="text">{deadline}</td><td class="text report-status">{escape(filing)}</td></tr>'
        )
    source = (
        ""
        if content.request.filings is not None
        else (
            ' Filing status: "not recorded" means no register was given (--register or --filings), not that nothing was filed.'
        )
    )
    return (
        '<section id="incidents"><h2>Incidents and reporting obligations</h2>'
        f'<p class="note">Numbered as on the map. Times are local ({escape(content.zone.config.timezone)}). '
        f"Deadlines come from the rule's report_within_h.{source}</p>"
        '<table class="incidents"><thead><tr><th>#</th><th>Incident</th><th>Start</th><th>End</th><th>Kind</th>'
        "<th>Rule</th><th>Severity</th><th>Area</th><th>Vehicle</th><th>Operator</th><th>Report deadline</th>"
        f"<th>Report</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + "".join(
            f'<p class="note explanation">{n}. {escape(i["explanation"])}</p>'
            for n, i in enumerate(content.incidents, start=1)
        )
        + "</section>"
    )


def _map(content: ReportContent) -> str:
    zone = content.zone
    if not content.request.public:
        markers = [
            Marker(
                n,
                i["longitude"],
                i["latitude"],
                i["severity"],
                f"#{n} {i['kind']} {i['rule_id']} {i['severity']}",
            )
            for n, i in enumerate(content.incidents, start=1)
            if i.get("longitude") is not None and i.get("latitude") is not None
        ]
        svg = zone_map(zone, markers=markers)
        note = f"{len(markers)} incident markers, numbered as in the incident table, where each incident started."
    else:
        assert content.public is not None
        grid, cells, hidden = content.public.grid, content.public.grid_cells, content.public.hidden_grid_cells
        squares = []
        for key, cell in cells.items():
            (w, s), (e, n) = grid.corners(key)
            label = "suppressed: fewer than k vehicles" if key in hidden else f"{cell.value:g} incidents"
            squares.append(GridSquare(w, s, e, n, label, key in hidden))
        svg = zone_map(zone, squares=squares)
        note = (
            f"Incidents by the {public.GRID_M:g} m grid cell they started in; hatched cells are suppressed "
            f"(fewer than k = {content.request.k} vehicles, or suppressed so that none can be recovered from the total)."
        )
    legend = "Areas: districts outlined, school zones yellow, restricted areas red, corridors grey."
    return f'<section id="map"><h2>Map</h2>{svg}<p class="note">{note} {legend}</p></section>'


def _charts(content: ReportContent) -> str:
    buckets = content.buckets
    hidden_activity: set[int] = set()
    hidden_incidents: set[int] = set()
    if content.public is not None:
        hidden_activity, hidden_incidents = (
            content.public.hidden_activity,
            content.public.hidden_bucket_incidents,
        )
    fmt = "%H:%M" if content.bucket_s < 86400 else "%m-%d"
    labels = [
        dt.datetime.fromtimestamp(b.start_ms / 1000, tz=content.zone.config.tz).strftime(fmt) for b in buckets
    ]

    def bars(values: list[float | None], hidden: set[int]) -> list[Bar]:
        return [Bar(labels[i], v, i in hidden) for i, v in enumerate(values)]

    size = (
        f"per {content.bucket_s // 60} min"
        if content.bucket_s < 3600
        else f"per {content.bucket_s // 3600} h"
    )
    charts = [
        bar_chart(
            f"Distance driven {size}", "km", bars([b.km for b in buckets], hidden_activity), "{:,.1f}".format
        ),
        bar_chart(
            f"Compliance ratio {size}",
            "1 - violation s / vehicle s",
            bars([b.compliance_ratio for b in buckets], hidden_activity),
            "{:.3f}".format,
        ),
        bar_chart(
            f"Incidents opened {size}",
            "incidents",
            bars([float(b.incidents) for b in buckets], hidden_incidents),
        ),
    ]
    return f'<section id="charts"><h2>Over time</h2>{"".join(charts)}</section>'


def _method(content: ReportContent) -> str:
    parts = [
        '<section id="method"><h2>How the figures are made</h2>',
        "<p>All figures are sums of the run's one-minute window summaries of this zone whose window starts in "
        "the period; incidents are those that started in it. Compliance ratio = 1 - violation seconds / vehicle "
        "seconds (a lower bound: two rules broken at once count twice). Rates are per 1,000 km driven in "
        "AUTONOMOUS mode.</p><h3>How the grade is made</h3><p>grade = worst of: compliance ratio (A &ge; 0.999, "
        "B &ge; 0.995, C &ge; 0.99, D &ge; 0.95, else E); CRITICAL and MAJOR incidents per 1,000 km driven "
        "(A &le; 0.5, B &le; 2, C &le; 10, D &le; 25, else E); disengagements and remote takeovers per 1,000 "
        f"autonomous km (A &le; 1, B &le; 5, C &le; 20, D &le; 50, else E). A rate over fewer than {MIN_KM:g} km "
        "is not rated.</p>",
    ]
    if content.request.public:
        parts.append(
            f"<h3>Privacy</h3><p>This version names no vehicle and places incidents on a {public.GRID_M:g} m grid, "
            "coarse enough not to point at a building, fine enough to show a neighbourhood. No figure about "
            f"fewer than k = {content.request.k} distinct vehicles is published (the MDS convention); where only a "
            "lower bound of the vehicles is known (the most active in one window) that bound is used, so a cell "
            "is never published on an overestimate.</p>"
        )
    elif content.run.dead_letters:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(content.run.dead_letters.items()))
        parts.append(
            f"<h3>Data quality</h3><p>Records dead-lettered in the run (all zones): {escape(reasons)}.</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_html(content: ReportContent) -> str:
    """The whole document."""
    zone = content.zone
    body = [_header(content), _groups_table(content)]
    if content.by_version:
        body.append(versions_table(content.by_version, hidden=_versions_hidden(content)))
    if content.request.public:
        body.append(
            f'<section id="incident-kinds"><h2>Incidents</h2>{_public_kinds(content)}{_public_obligations(content)}'
            "</section>"
        )
    else:
        body.append(f'<section id="incident-kinds">{_kinds_by_group(content)}</section>')
    body += [_map(content), _charts(content)]
    if not content.request.public:
        body.append(_incidents_table(content))
    body += [rules_section(content.versions, content.run_versions), _method(content)]
    title = f"{zone.config.name}: compliance report" + (" (public)" if content.request.public else "")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )
