"""``pilotzone manifest verify``: are a run's outputs complete, and the ones its manifest lists?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pilotzone.pipelines.jobs.manifest import MANIFEST_FILE, verify_run


def add_parser(subparsers: Any) -> None:
    """Register ``manifest verify``."""
    manifest = subparsers.add_parser(
        "manifest",
        help="check a run's outputs against its run manifest",
        description=f"Every replay (pilotzone run, pilotzone demo) writes {MANIFEST_FILE} beside its "
        "incident log after every output is complete: inputs and their SHA-256, zone-config versions, counts, "
        "outputs and their SHA-256, software versions.",
    )
    actions = manifest.add_subparsers(dest="manifest_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check the outputs against the manifest",
        description="Check that every output the manifest lists exists with its recorded size and SHA-256 "
        "and that its counts add up. Exit status 0 when they match, 1 when anything differs or the folder has "
        "no manifest (the run did not finish), 2 when the folder or manifest is unusable.",
    )
    verify.add_argument(
        "run", type=Path, metavar="RUN_DIR", help=f"the run's folder (or its {MANIFEST_FILE})"
    )
    verify.add_argument(
        "--inputs-root",
        type=Path,
        metavar="DIR",
        help="also check the input files, their recorded paths taken from DIR (where the run was started)",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(func=verify_command)


def verify_command(args: argparse.Namespace) -> int:
    """``pilotzone manifest verify``: 0 the outputs match, 1 they differ or are incomplete, 2 unusable."""
    result = verify_run(args.run, inputs_root=args.inputs_root)
    if args.json:
        print(
            json.dumps(
                {
                    "manifest": str(result.manifest),
                    "ok": result.status == 0,
                    "problems": result.problems,
                    "unusable": result.unusable,
                    "files_checked": result.checked,
                },
                indent=2,
            )
        )
    elif result.unusable is not None:
        print(f"pilotzone manifest verify: {result.unusable}", file=sys.stderr)
    elif not result.manifest.exists():
        print(f"pilotzone manifest verify: {result.problems[0]}", file=sys.stderr)
    elif result.problems:
        print(f"{result.manifest}: the outputs do not match", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
    else:
        print(f"{result.manifest}: {result.checked} files match, counts add up")
    return result.status
