"""``pilotzone report``: a regulator's report on one zone and period of a run, as HTML and PDF.

The run folder is what ``pilotzone run``, ``demo`` or ``stream`` wrote; the zone config gives
the geometry and the rules, and must be the version the run used (with a config history, every
version the run used: the report lists each one in force during the period). Exit 2 for anything unusable
(folder, config, period, filings file, missing Chromium), with what to fix.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from pilotzone.pipelines.cli.incidents import add_register_argument
from pilotzone.pipelines.register.store import RegisterError
from pilotzone.pipelines.reports.content import ReportError, ReportRequest, build_report
from pilotzone.pipelines.reports.figures import Period, parse_time
from pilotzone.pipelines.reports.filings import FilingsError, FilingsFile, FilingSource, RegisterFilings
from pilotzone.pipelines.reports.html import render_html
from pilotzone.pipelines.reports.pdf import PdfError, find_chromium, print_pdf
from pilotzone.pipelines.reports.rundir import RunFolderError, read_run_folder
from pilotzone.pipelines.reports.suppression import DEFAULT_K
from pilotzone.zones import SHIPPED_CONFIGS, Zone, ZoneConfigError, load_zones


def add_parser(subparsers: Any) -> None:
    """Register ``report``."""
    report = subparsers.add_parser(
        "report",
        help="a regulator's report (HTML and PDF) on one zone and period of a run",
        description="Write a self-contained HTML report and its PDF from the folder a replay, demo or stream "
        "wrote: figures per operator and vehicle class, incidents with their report deadlines and filing "
        "status, a map, charts over time, the rules in force and the zone grade. --public writes a version "
        "that can be published: no vehicle ids, incidents on a 500 m grid, no figure about fewer than k "
        "vehicles.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="folder a replay, demo or stream wrote")
    report.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="folder to write the report to"
    )
    report.add_argument("--public", action="store_true", help="the publishable version")
    report.add_argument(
        "--k",
        type=int,
        default=DEFAULT_K,
        metavar="K",
        help=f"public: least vehicles a figure may be about ({DEFAULT_K})",
    )
    report.add_argument(
        "--zone", metavar="ZONE_ID", help="zone to report on (needed when the run has several)"
    )
    report.add_argument(
        "--zones",
        action="append",
        type=Path,
        metavar="PATH",
        help="zone config file or folder the run used (default: the shipped configs)",
    )
    report.add_argument(
        "--from", dest="start", metavar="TIME", help="period start, ISO 8601 (default: run start)"
    )
    report.add_argument("--to", dest="end", metavar="TIME", help="period end, exclusive (default: run end)")
    report.add_argument(
        "--filings",
        type=Path,
        metavar="FILE.json",
        help="register export with filed reports (JSON array or lines: incident_id, reference, filed_by, filed_at)",
    )
    add_register_argument(report)
    report.add_argument("--as-of", metavar="TIME", help="judge report deadlines at this time (default: now)")
    report.add_argument("--no-pdf", action="store_true", help="write the HTML only")
    report.add_argument("--chromium", metavar="PATH", help="Chromium command (default: chromium on the PATH)")
    report.set_defaults(func=report_command)


def _filings(args: argparse.Namespace, zone_id: str) -> FilingSource | None:
    """Where filed reports come from: the register itself, or an export of it; none given
    means "not recorded", never "overdue". An export named on the command line wins over a
    register named by ``PILOTZONE_REGISTER``."""
    if args.filings is not None:
        return FilingsFile.read(args.filings)
    return None if args.register is None else RegisterFilings.read(args.register, zone_id)


def _fail(message: str) -> int:
    print(f"pilotzone report: {message}", file=sys.stderr)
    return 2


def _choose_zone(zones: list[Zone], wanted: str | None, in_run: list[str]) -> list[Zone] | str:
    """Every loaded version of the zone to report on (its config history), or why none."""
    by_id: dict[str, list[Zone]] = {}
    for zone in zones:
        by_id.setdefault(zone.zone_id, []).append(zone)
    if wanted is None:
        candidates = [zone_id for zone_id in in_run if zone_id in by_id]
        if len(candidates) != 1:
            return f"the run has zones {', '.join(in_run) or 'none'}: choose one with --zone"
        wanted = candidates[0]
    if wanted not in by_id:
        return (
            f"no config for zone {wanted!r} (configs loaded: {', '.join(sorted(by_id))}): "
            "pass --zones with the config file the run used"
        )
    return by_id[wanted]


def _period(args: argparse.Namespace) -> Period | None:
    if args.start is None and args.end is None:
        return None
    if args.start is None or args.end is None:
        raise ValueError("give both --from and --to, or neither for the run's whole span")
    return Period(parse_time(args.start), parse_time(args.end))


def report_command(args: argparse.Namespace) -> int:
    """``pilotzone report``: write the HTML (and the PDF), print their paths."""
    if args.k < 1:
        return _fail("--k must be at least 1")
    try:
        run = read_run_folder(args.run_dir)
        zones = load_zones(args.zones or [SHIPPED_CONFIGS])
        versions = _choose_zone(zones, args.zone, run.zone_ids)
        if isinstance(versions, str):
            return _fail(versions)
        zone = versions[-1]
        period = _period(args)
        as_of = parse_time(args.as_of) if args.as_of else round(time.time() * 1000)
        filings = _filings(args, zone.zone_id)
        chromium = None if args.no_pdf else find_chromium(args.chromium)
        content = build_report(
            run,
            ReportRequest(
                zone,
                period,
                public=args.public,
                k=args.k,
                filings=filings,
                as_of_ms=as_of,
                history=tuple(versions),
            ),
        )
    except ZoneConfigError as exc:
        return _fail(f"the zone configs have problems:\n{exc}")
    except (RunFolderError, ReportError, FilingsError, RegisterError, PdfError) as exc:
        return _fail(str(exc))
    except ValueError as exc:  # a time that is not ISO 8601, or an empty period
        return _fail(f"{exc} (times are ISO 8601, e.g. 2026-11-23T10:00+09:00)")
    stem = f"{zone.zone_id}-{'public-' if args.public else ''}report"
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        html_path = args.out / f"{stem}.html"
        html_path.write_text(render_html(content), encoding="utf-8")
        print(f"report: {html_path}")
        if chromium is not None:
            print_pdf(html_path, args.out / f"{stem}.pdf", chromium)
            print(f"report: {args.out / f'{stem}.pdf'}")
    except OSError as exc:
        return _fail(f"cannot write to {args.out}: {exc}")
    except PdfError as exc:
        return _fail(str(exc))
    grade = content.grade.letter or "not graded"
    print(
        f"zone {zone.zone_id}: {content.total.samples} samples, {len(content.incidents)} incidents, grade {grade}"
    )
    return 0
