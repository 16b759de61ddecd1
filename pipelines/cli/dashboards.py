"""``pilotzone dashboards``: regenerate the Grafana dashboards' JSON from ``pilotzone.pipelines.dashboards``.

The JSON is committed so that reviewers see dashboard changes as diffs and Grafana can
provision it without Python; this command is how it is rebuilt after a change to the code.
The Grafana SDK is an optional extra (``pilotzone-monitor[dashboards]``), so it is imported
only here, and the other commands run without it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("deploy/grafana/dashboards")


def add_parser(subparsers: Any) -> None:
    """Register ``dashboards`` and its options."""
    parser = subparsers.add_parser(
        "dashboards",
        help="regenerate the Grafana dashboards (JSON) from code",
        description="Write the regulator overview, zone detail and pipeline health dashboards as Grafana "
        "JSON, one <uid>.json per dashboard. Regenerating without code changes gives identical files.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder to write the dashboards into (default {DEFAULT_OUT})",
    )
    parser.set_defaults(func=run_dashboards)


def run_dashboards(args: argparse.Namespace) -> int:
    """Write every dashboard; 0 on success, 2 when the Grafana SDK is not installed."""
    try:
        from pilotzone.pipelines.dashboards import write_dashboards
    except ImportError as error:
        print(
            f"pilotzone dashboards needs the Grafana foundation SDK ({error}); "
            "install it with: pip install 'pilotzone-monitor[dashboards]'",
            file=sys.stderr,
        )
        return 2
    for path in write_dashboards(args.out):
        print(path)
    return 0
